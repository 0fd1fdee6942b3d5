// `wx` for the tests: what the pages send goes over real HTTP. wx.request and wx.uploadFile reach the citizen
// API under test; wx.login asks the fake WeChat (through the control server) for a code, as the WeChat client
// asks WeChat's servers. What only the resident's fingers decide (which photo, "允许" or not) and where the
// page navigates are recorded on `phone` for the tests to set and read.
const http = require('http')
const fs = require('fs')
const {Buffer} = require('buffer')
const {URL} = require('url')

const phone = {
  openid: null,
  storage: new Map(),
  navigations: [],
  titles: [],
  media: null,              // {path, size} for wx.chooseMedia, null = the resident cancels
  replayLoginCode: false,
  lastLoginCode: null,
  subscribeAnswer: 'accept',  // what the resident taps in wx.requestSubscribeMessage
  subscribeRequests: [],
  requests: [],
  inflight: 0,
  settled: [],   // waiters woken when the last request in flight has answered
  reset() {
    this.openid = null
    this.storage.clear()
    this.navigations = []
    this.titles = []
    this.media = null
    this.subscribeAnswer = 'accept'
    this.replayLoginCode = false
    this.subscribeRequests = []
    this.requests = []
  },
}

function encodeForm(data) {
  return Object.keys(data || {}).filter(k => data[k] !== undefined && data[k] !== null)
    .map(k => `${encodeURIComponent(k)}=${encodeURIComponent(String(data[k]))}`).join('&')
}

function headerValue(header, name) {
  const key = Object.keys(header || {}).find(k => k.toLowerCase() === name)
  return key ? header[key] : undefined
}

function send(urlText, {method = 'GET', headers = {}, body}) {
  phone.inflight += 1
  return new Promise((resolve, reject) => {
    const url = new URL(urlText)
    const req = http.request({hostname: url.hostname, port: url.port, path: url.pathname + url.search, method,
      headers: Object.assign({}, headers, body ? {'Content-Length': Buffer.byteLength(body)} : {})}, res => {
      const chunks = []
      res.on('data', c => chunks.push(c))
      res.on('end', () => resolve({statusCode: res.statusCode, header: res.headers,
        text: Buffer.concat(chunks).toString('utf8')}))
    })
    req.on('error', reject)
    if (body) req.write(body)
    req.end()
  }).finally(() => {
    phone.inflight -= 1
    if (phone.inflight === 0) phone.settled.splice(0).forEach(wake => wake())
  })
}

function finish(options, promise) {
  promise.then(res => {
    if (options.success) options.success(res)
    if (options.complete) options.complete(res)
  }, err => {
    const res = {errMsg: `request:fail ${err.message}`}
    if (options.fail) options.fail(res)
    if (options.complete) options.complete(res)
  })
}

// As WeChat does: GET data goes into the query string; otherwise JSON unless the page asks for a form.
function request(options) {
  const method = (options.method || 'GET').toUpperCase()
  const header = Object.assign({}, options.header || {})
  let url = options.url
  let body
  if (method === 'GET') {
    const query = encodeForm(options.data)
    if (query) url += (url.includes('?') ? '&' : '?') + query
  } else if (options.data !== undefined) {
    const type = headerValue(header, 'content-type') || 'application/json'
    if (!headerValue(header, 'content-type')) header['content-type'] = type
    body = type.includes('x-www-form-urlencoded') ? encodeForm(options.data) : JSON.stringify(options.data)
  }
  phone.requests.push({method, url, header, body})
  finish(options, send(url, {method, headers: header, body}).then(res => {
    let data = res.text
    if (options.dataType !== 'text') {
      try {
        data = JSON.parse(res.text)
      } catch (err) {
        data = res.text
      }
    }
    return {statusCode: res.statusCode, header: res.header, data, errMsg: 'request:ok'}
  }))
}

function uploadFile(options) {
  const boundary = `----onecardmp${Date.now()}`
  const parts = []
  Object.keys(options.formData || {}).forEach(key => {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${key}"\r\n\r\n`
      + `${options.formData[key]}\r\n`))
  })
  const file = fs.readFileSync(options.filePath)
  const type = options.filePath.endsWith('.png') ? 'image/png' : 'image/jpeg'
  parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${options.name}"; `
    + `filename="${options.filePath.split('/').pop()}"\r\nContent-Type: ${type}\r\n\r\n`))
  parts.push(file, Buffer.from(`\r\n--${boundary}--\r\n`))
  const header = Object.assign({}, options.header || {}, {'content-type': `multipart/form-data; boundary=${boundary}`})
  phone.requests.push({method: 'POST', url: options.url, header, upload: options.name,
    form: Object.assign({}, options.formData)})
  finish(options, send(options.url, {method: 'POST', headers: header, body: Buffer.concat(parts)})
    .then(res => ({statusCode: res.statusCode, data: res.text, errMsg: 'uploadFile:ok'})))
}

function login(options) {
  if (phone.replayLoginCode) {   // a code already used once, as a stale page might hold
    finish(options, Promise.resolve({code: phone.lastLoginCode, errMsg: 'login:ok'}))
    return
  }
  finish(options, send(`${process.env.MP_CONTROL_BASE}/wx/login`, {method: 'POST',
    headers: {'content-type': 'application/json'}, body: JSON.stringify({openid: phone.openid})})
    .then(res => {
      phone.lastLoginCode = JSON.parse(res.text).code
      return {code: phone.lastLoginCode, errMsg: 'login:ok'}
    }))
}

function navigate(how) {
  return options => {
    phone.navigations.push({how, url: options.url})
    if (options.success) options.success({errMsg: `${how}:ok`})
  }
}

const wx = {
  getAccountInfoSync: () => ({miniProgram: {appId: 'wx_test_onecard', envVersion: 'develop'}}),
  getStorageSync: key => (phone.storage.has(key) ? phone.storage.get(key) : ''),
  setStorageSync: (key, value) => phone.storage.set(key, value),
  removeStorageSync: key => phone.storage.delete(key),
  clearStorageSync: () => phone.storage.clear(),
  login,
  request,
  uploadFile,
  chooseMedia(options) {
    if (!phone.media) {
      options.fail({errMsg: 'chooseMedia:fail cancel'})
      return
    }
    options.success({type: 'image', tempFiles: [{tempFilePath: phone.media.path, size: phone.media.size,
      fileType: 'image'}]})
  },
  requestSubscribeMessage(options) {
    phone.subscribeRequests.push(options.tmplIds)
    const res = {errMsg: 'requestSubscribeMessage:ok'}
    options.tmplIds.forEach(id => {
      res[id] = phone.subscribeAnswer
    })
    options.success(res)
  },
  navigateTo: navigate('navigateTo'),
  redirectTo: navigate('redirectTo'),
  reLaunch: navigate('reLaunch'),
  switchTab: navigate('switchTab'),
  navigateBack: navigate('navigateBack'),
  setNavigationBarTitle: options => phone.titles.push(options.title),
  showToast: () => {},
  showModal: () => {},
  showLoading: () => {},
  hideLoading: () => {},
}

module.exports = {wx, phone, send}
