// The signed-in phone: our own token (never WeChat's session_key) and whether real-name binding is done.
const TOKEN = 'onecard.token'
const BOUND = 'onecard.bound'

module.exports = {
  token() {
    return wx.getStorageSync(TOKEN) || ''
  },
  bound() {
    return !!wx.getStorageSync(BOUND)
  },
  save(login) {
    wx.setStorageSync(TOKEN, login.token)
    wx.setStorageSync(BOUND, !!login.bound)
  },
  markBound() {
    wx.setStorageSync(BOUND, true)
  },
  clear() {
    wx.removeStorageSync(TOKEN)
    wx.removeStorageSync(BOUND)
  },
}
