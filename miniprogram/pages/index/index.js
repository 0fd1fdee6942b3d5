// 首页: the card's status in plain words and the next step; the way to everything else.
// No token yet: sign in first. Signed in but not bound: real-name binding first.
const api = require('../../utils/api')
const session = require('../../utils/session')

Component({
  behaviors: [require('../../utils/base')],
  data: {loaded: false, unbound: false, card: null},
  methods: {
    onShow() {
      this.syncMode()
      if (!session.token()) {
        wx.reLaunch({url: api.LOGIN_PAGE})
        return Promise.resolve()
      }
      return this.load()
    },
    load() {
      this.clearMessages()
      return api.get('/card').then(card => this.setData({card, unbound: false, loaded: true}), err => {
        if (err.code === 'binding_required') this.setData({unbound: true, card: null, loaded: true})
        else this.showError(err)
      })
    },
  },
})
