// 实名绑定: name + ID number -> a code to the mobile the card registry holds -> the code binds this WeChat.
const api = require('../../utils/api')
const session = require('../../utils/session')

Component({
  behaviors: [require('../../utils/base')],
  data: {step: 'details', name: '', idNumber: '', code: '', message: ''},
  methods: {
    onShow() {
      this.syncMode()
    },
    onName(e) {
      this.setData({name: e.detail.value})
    },
    onIdNumber(e) {
      this.setData({idNumber: e.detail.value})
    },
    onCode(e) {
      this.setData({code: e.detail.value})
    },
    sendCode() {
      this.clearMessages()
      this.setData({busy: true})
      return api.post('/binding/code', {name: this.data.name, id_number: this.data.idNumber})
        .then(res => this.setData({step: 'code', message: res.message, busy: false}), err => this.showError(err))
    },
    bind() {
      this.clearMessages()
      this.setData({busy: true})
      return api.post('/binding', {name: this.data.name, id_number: this.data.idNumber, code: this.data.code})
        .then(() => {
          session.markBound()
          this.setData({busy: false})
          wx.reLaunch({url: '/pages/index/index'})
        }, err => this.showError(err))
    },
    restart() {
      this.setData({step: 'details', code: '', message: '', error: '', errorCode: ''})
    },
  },
})
