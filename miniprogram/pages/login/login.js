// 登录: wx.login's code goes to POST /auth/wechat-login; our token comes back. Bound phones go to 首页,
// new ones to 实名绑定. In development (config devLogin) the development login stands in for WeChat.
const api = require('../../utils/api')
const session = require('../../utils/session')
const config = require('../../config')

Component({
  behaviors: [require('../../utils/base')],
  data: {expired: false, devLogin: false, idNumber: '', demoResidents: []},
  methods: {
    onLoad(options) {
      const devLogin = config.current().devLogin
      this.setData({expired: (options || {}).expired === '1', devLogin})
      if (!devLogin) return this.wechatLogin()
      return api.get('/auth/dev-residents', {auth: false}).then(demoResidents => this.setData({demoResidents}),
        err => this.showError(err))
    },
    onShow() {
      this.syncMode()
    },
    wechatLogin() {
      this.clearMessages()
      this.setData({busy: true})
      wx.login({
        success: res => this.exchange('/auth/wechat-login', {code: res.code}),
        fail: () => this.showError({message: '微信登录失败，请稍后重试'}),
      })
    },
    onIdNumber(e) {
      this.setData({idNumber: e.detail.value})
    },
    devSignIn() {
      this.clearMessages()
      this.setData({busy: true})
      this.exchange('/auth/dev-login', this.data.idNumber ? {id_number: this.data.idNumber} : {})
    },
    devSignInAs(e) {
      this.clearMessages()
      this.setData({busy: true})
      this.exchange('/auth/dev-login', {resident_id: Number(e.currentTarget.dataset.id)})
    },
    exchange(path, body) {
      return api.post(path, body, {auth: false}).then(login => {
        session.save(login)
        this.setData({busy: false})
        if (login.bound) wx.reLaunch({url: '/pages/index/index'})
        else wx.redirectTo({url: '/pages/bind/bind'})
      }, err => this.showError(err))
    },
  },
})
