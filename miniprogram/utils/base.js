// What every page shares: the 长辈版 switch, the error line with the API's Chinese message, and the way on
// to real-name binding when the API answers binding_required.
const elder = require('./elder')

module.exports = Behavior({
  data: {elder: false, error: '', errorCode: '', notice: '', busy: false},
  lifetimes: {
    attached() {
      this.setData({elder: elder.isOn()})
    },
  },
  methods: {
    syncMode() {
      const on = elder.isOn()
      if (on !== this.data.elder) this.setData({elder: on})
    },
    showError(err) {
      this.setData({error: (err && err.message) || '出错了，请稍后再试', errorCode: (err && err.code) || '', busy: false})
    },
    clearMessages() {
      this.setData({error: '', errorCode: '', notice: ''})
    },
    goBind() {
      wx.navigateTo({url: '/pages/bind/bind'})
    },
    go(e) {
      wx.navigateTo({url: e.currentTarget.dataset.url})
    },
  },
})
