// 激活社保卡 / 挂失 (?action=activate|loss): a code to the registered mobile, then the code confirms.
const api = require('../../utils/api')

const ACTIONS = {
  activate: {title: '激活社保卡', intro: '激活后，补贴才能发到这张卡上。', confirm: '确认激活'},
  loss: {title: '挂失社保卡', intro: '挂失后这张卡马上停用，别人拿到也取不出钱。找不到卡可以接着补办新卡。', confirm: '确认挂失'},
}

Component({
  behaviors: [require('../../utils/base')],
  data: {action: 'activate', texts: ACTIONS.activate, card: null, step: 'start', message: '', code: ''},
  methods: {
    onLoad(options) {
      const action = ACTIONS[(options || {}).action] ? options.action : 'activate'
      this.setData({action, texts: ACTIONS[action]})
      wx.setNavigationBarTitle({title: ACTIONS[action].title})
      return api.get('/card').then(card => this.setData({card}), err => this.showError(err))
    },
    onShow() {
      this.syncMode()
    },
    onCode(e) {
      this.setData({code: e.detail.value})
    },
    sendCode() {
      this.clearMessages()
      this.setData({busy: true})
      return api.post(`/card/${this.data.action}/code`).then(res => this.setData({
        step: 'code', message: res.message, busy: false}), err => this.showError(err))
    },
    confirm() {
      this.clearMessages()
      this.setData({busy: true})
      return api.post(`/card/${this.data.action}`, {code: this.data.code}).then(() => {
        this.setData({busy: false})
        wx.redirectTo({url: `/pages/card/card?done=${this.data.action}`})
      }, err => this.showError(err))
    },
  },
})
