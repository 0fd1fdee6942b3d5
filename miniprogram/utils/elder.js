// 长辈版: larger type and controls, one task per screen. Kept on the phone, like the H5 大字模式 cookie.
const KEY = 'onecard.elder'

module.exports = {
  isOn() {
    return !!wx.getStorageSync(KEY)
  },
  set(on) {
    wx.setStorageSync(KEY, !!on)
  },
}
