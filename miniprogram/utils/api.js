// The one way the pages talk to the citizen API (/api/citizen/v1).
// Success resolves with the JSON body; any refusal rejects with an ApiError carrying the API's own Chinese
// message ({"error": {"code", "message", "field"}}). A 401 (no token, expired or revoked) forgets the
// token and sends the resident back to sign-in.
const config = require('../config')
const session = require('./session')

const LOGIN_PAGE = '/pages/login/login'
const NETWORK_MESSAGE = '网络连接失败，请检查网络后重试'

class ApiError extends Error {
  constructor(message, code, status, field) {
    super(message)
    this.code = code
    this.status = status
    this.field = field || null
  }
}

function headers(auth, extra) {
  const header = Object.assign({}, extra || {})
  const token = auth ? session.token() : ''
  if (token) header.Authorization = `Bearer ${token}`
  return header
}

function settle(res, resolve, reject, sentToken) {
  let body = res.data
  if (typeof body === 'string' && body) {
    try {
      body = JSON.parse(body)   // wx.uploadFile hands back the body as text
    } catch (err) {
      body = null
    }
  }
  if (res.statusCode >= 200 && res.statusCode < 300) {
    resolve(body)
    return
  }
  const error = (body && body.error) || {}
  // Only once when a page's several requests all come back 401: the first forgets the token it carried.
  if (res.statusCode === 401 && session.token() === sentToken) {
    session.clear()
    wx.reLaunch({url: `${LOGIN_PAGE}?expired=1`})
  }
  reject(new ApiError(error.message || '服务暂时不可用，请稍后再试', error.code || `http_${res.statusCode}`,
    res.statusCode, error.field))
}

function request(path, {method = 'GET', data, auth = true, header} = {}) {
  const sentToken = session.token()
  return new Promise((resolve, reject) => {
    wx.request({
      url: config.current().apiBase + path,
      method,
      data,
      header: headers(auth, header),
      success: res => settle(res, resolve, reject, sentToken),
      fail: () => reject(new ApiError(NETWORK_MESSAGE, 'network', 0)),
    })
  })
}

// A form post with a picture (申领/补换卡): multipart through wx.uploadFile; without a picture the same
// fields go as an ordinary form, which the API reads the same way.
function submitForm(path, formData, filePath) {
  if (!filePath) {
    return request(path, {method: 'POST', data: formData,
      header: {'content-type': 'application/x-www-form-urlencoded'}})
  }
  const sentToken = session.token()
  return new Promise((resolve, reject) => {
    wx.uploadFile({
      url: config.current().apiBase + path,
      filePath,
      name: 'photo',
      formData,
      header: headers(true),
      success: res => settle(res, resolve, reject, sentToken),
      fail: () => reject(new ApiError(NETWORK_MESSAGE, 'network', 0)),
    })
  })
}

module.exports = {
  ApiError,
  LOGIN_PAGE,
  get: (path, options) => request(path, Object.assign({method: 'GET'}, options)),
  post: (path, data, options) => request(path, Object.assign({method: 'POST', data}, options)),
  put: (path, data, options) => request(path, Object.assign({method: 'PUT', data}, options)),
  submitForm,
}
