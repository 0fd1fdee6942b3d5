// 设置: 长辈版, 到账短信, 微信到账提醒 (one wx.requestSubscribeMessage accept = one arrival message, so each
// accept is reported to the API), and who acted for me (村协办员代办记录).
const api = require('../../utils/api')
const elder = require('../../utils/elder')

Component({
  behaviors: [require('../../utils/base')],
  data: {card: null, subscription: null, actions: []},
  methods: {
    onLoad() {
      return this.load()
    },
    onShow() {
      this.syncMode()
    },
    load() {
      return Promise.all([api.get('/card'), api.get('/settings/wechat-subscription'), api.get('/assisted-actions')])
        .then(([card, subscription, actions]) => this.setData({card, subscription, actions}),
          err => this.showError(err))
    },
    toggleElder() {
      elder.set(!this.data.elder)
      this.setData({elder: elder.isOn(), notice: elder.isOn() ? '已打开长辈版。' : '已关闭长辈版。'})
    },
    toggleSms() {
      this.clearMessages()
      const enabled = this.data.card.sms_opt_out   // off now: switch on, and the other way round
      return api.put('/settings/sms', {enabled}).then(res => this.setData({
        'card.sms_opt_out': res.sms_opt_out, notice: res.sms_opt_out ? '已关闭到账短信。' : '已开启到账短信。',
      }), err => this.showError(err))
    },
    subscribe() {
      this.clearMessages()
      const templateId = this.data.subscription.template_id
      return new Promise(resolve => wx.requestSubscribeMessage({
        tmplIds: [templateId],
        success: res => {
          if (res[templateId] !== 'accept') {
            this.setData({notice: '您没有允许，到账时不会收到微信提醒（短信照常）。'})
            resolve()
            return
          }
          api.post('/settings/wechat-subscription', {template_id: templateId}).then(subscription => {
            this.setData({subscription, notice: '订阅成功，下一笔补贴到账时会收到微信提醒。'})
          }, err => this.showError(err)).then(resolve)
        },
        fail: () => {
          this.showError({message: '没能打开订阅，请稍后再试'})
          resolve()
        },
      }))
    },
  },
})
