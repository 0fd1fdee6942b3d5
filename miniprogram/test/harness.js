// Opening pages as WeChat does (render, then onLoad(query) and onShow()), waiting for the network, reading
// what the resident sees, and the control server's fixtures (residents, SMS codes, token expiry).
const path = require('path')
const fs = require('fs')
const os = require('os')
const simulate = require('miniprogram-simulate')
const {wx, phone, send} = require('./wx')

Object.assign(global.wx, wx)
global.getCurrentPages = () => []

const config = require('../config')

config.ENVS.develop.apiBase = process.env.MP_API_BASE
config.ENVS.develop.devLogin = false

const ROOT = path.resolve(__dirname, '..')
const loaded = {}

function pageId(name) {
  if (!loaded[name]) loaded[name] = simulate.load(path.join(ROOT, 'pages', name, name), {rootPath: ROOT})
  return loaded[name]
}

// Wait until the page has stopped talking to the network: nothing in flight across a few turns of the event
// loop (a page often starts its next request from the previous one's callback).
async function idle(limitMs = 15000) {
  const deadline = Date.now() + limitMs
  for (let quiet = 0; quiet < 3;) {
    if (phone.inflight > 0) {
      let timer
      await Promise.race([new Promise(resolve => phone.settled.push(resolve)),
        new Promise(resolve => {
          timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))
        })])
      clearTimeout(timer)
      if (Date.now() >= deadline) throw new Error('the page kept waiting for the network')
      quiet = 0
    }
    await new Promise(resolve => setTimeout(resolve, 0))
    quiet = phone.inflight === 0 ? quiet + 1 : 0
  }
}

class Page {
  constructor(comp) {
    this.comp = comp
  }

  get data() {
    return this.comp.data
  }

  get dom() {
    return this.comp.dom
  }

  text(selector) {
    const node = selector ? this.comp.querySelector(selector) : this.comp
    return node ? node.dom.textContent.replace(/\s+/g, ' ').trim() : null
  }

  has(selector) {
    return !!this.comp.querySelector(selector)
  }

  all(selector) {
    return this.comp.querySelectorAll(selector)
  }

  async tap(selector) {
    const node = this.comp.querySelector(selector)
    if (!node) throw new Error(`nothing to tap at ${selector}: ${this.text()}`)
    node.dispatchEvent('tap')
    await idle()
  }

  async type(selector, value) {
    const node = this.comp.querySelector(selector)
    if (!node) throw new Error(`no input at ${selector}`)
    node.dispatchEvent('input', {detail: {value}})
    await idle()
  }

  async change(selector, value) {
    this.comp.querySelector(selector).dispatchEvent('change', {detail: {value}})
    await idle()
  }

  isElder() {
    return /(^|\s)(\S+--)?elder(\s|$)/.test(this.dom.firstElementChild.className)
  }
}

async function open(name, query = {}) {
  const comp = simulate.render(pageId(name))
  comp.attach(document.createElement('parent-wrapper'))
  if (comp.instance.onLoad) comp.instance.onLoad(query)
  if (comp.instance.onShow) comp.instance.onShow()
  await idle()
  return new Page(comp)
}

// The control server (tests/miniprogram/serve_for_node.py): what WeChat and the resident's phone supply.
async function control(method, route, body) {
  const payload = body ? JSON.stringify(body) : undefined
  const res = await send(`${process.env.MP_CONTROL_BASE}${route}`, {method, body: payload,
    headers: payload ? {'content-type': 'application/json'} : {}})
  if (res.statusCode !== 200) throw new Error(`control ${route}: ${res.statusCode} ${res.text}`)
  return JSON.parse(res.text)
}

// What the citizen API itself answers to a GET (no token), to compare with what a page shows.
async function apiGet(route) {
  const res = await send(`${process.env.MP_API_BASE}${route}`, {})
  if (res.statusCode !== 200) throw new Error(`GET ${route}: ${res.statusCode} ${res.text}`)
  return JSON.parse(res.text)
}

// The fields a page sent with its last POST to the API path: a multipart upload's form fields, or an ordinary
// form's (application/x-www-form-urlencoded).
function lastForm(route) {
  const sent = phone.requests.filter(r => r.method === 'POST' && r.url.endsWith(route)).pop()
  if (!sent) return null
  return sent.upload ? sent.form : Object.fromEntries(new URLSearchParams(sent.body || ''))
}

// A new resident for one test: {card: none|applied|issued|active|lost, bound, paid: n, failed, assisted}.
const newResident = spec => control('POST', '/residents', spec)
const smsCode = resident => control('GET', `/sms?resident_id=${resident.id}`).then(r => r.code)
const pickDemoResidents = () => control('POST', '/demo/pick')
const expireToken = token => control('POST', '/tokens/expire', {token})
// The department answers the resident's newest open complaint (as its clerk would in the console).
const departmentReplies = (resident, text) => control('POST', '/complaints/reply', {resident_id: resident.id, text})

// A fresh phone before each test: empty storage, rate-limit counters reset, the chosen layout.
async function freshPhone(mode) {
  phone.reset()
  if (mode === 'elder') phone.storage.set('onecard.elder', true)
  await control('POST', '/limits/reset')
}

// Sign in through the login page, as the resident would: wx.login -> /auth/wechat-login.
async function signIn(resident) {
  phone.resident = resident
  // A WeChat never seen before: unique across test files too (each file has its own module state).
  phone.openid = (resident && resident.openid) || `o_new_${require('crypto').randomBytes(8).toString('hex')}`
  const page = await open('login')
  return page
}

function lastNavigation() {
  return phone.navigations[phone.navigations.length - 1] || null
}

// A picture file as wx.chooseMedia would leave it in the phone's temporary folder.
function tempPicture(kind = 'jpg', bytes = 2000) {
  const magic = kind === 'png' ? Buffer.from('89504e470d0a1a0a', 'hex') : Buffer.from('ffd8ffe000104a464946', 'hex')
  const body = kind === 'txt' ? Buffer.from('这不是照片') : Buffer.concat([magic, Buffer.alloc(bytes)])
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mp-')), `photo.${kind === 'txt' ? 'jpg' : kind}`)
  fs.writeFileSync(file, body)
  return {path: file, size: body.length}
}

// The font size an element's text is drawn at: its own declared size or the nearest ancestor's (inheritance,
// which jsdom's getComputedStyle does not do for us).
function fontPx(el) {
  for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
    const size = window.getComputedStyle(node).fontSize
    if (size && size.endsWith('px')) return parseFloat(size)
  }
  return null
}

function classed(el, name) {
  return new RegExp(`(^|\\s)(\\S+--)?${name}(\\s|$)`).test(el.className || '')
}

// 长辈版 sizes (the H5 elderly mode's): every visible text >= 22 px, the status >= 30 px, controls >= 60 x 60.
function elderSizeProblems(page) {
  const problems = []
  const elements = [page.dom, ...page.dom.querySelectorAll('*')]
  elements.forEach(el => {
    const ownText = Array.from(el.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim()
    if (ownText && fontPx(el) < 22) problems.push(`text "${ownText}" at ${fontPx(el)}px`)
    if (classed(el, 'status') && fontPx(el) < 30) problems.push(`status "${el.textContent}" at ${fontPx(el)}px`)
    if (classed(el, 'btn') || classed(el, 'input')) {
      const style = window.getComputedStyle(el)
      const h = parseFloat(style.minHeight)
      const w = parseFloat(style.minWidth)
      if (!(h >= 60 && w >= 60)) problems.push(`control "${el.textContent.trim()}" min ${w}x${h}`)
    }
  })
  return problems
}

// Each screen in the layout the resident chose; in 长辈版 nothing smaller than the H5 elderly sizes.
function expectLayout(page, mode) {
  expect(page.isElder()).toBe(mode === 'elder')
  if (mode === 'elder') expect(elderSizeProblems(page)).toEqual([])
}

// Signed in as a resident and the token then expired (past its expiry in the database).
async function signInThenExpire(resident) {
  await signIn(resident)
  const token = phone.storage.get('onecard.token')
  expect((await expireToken(token)).expired).toBe(1)
  phone.navigations = []
  return token
}

// An expired token sends the resident back to sign-in, the token forgotten.
function expectSentToSignIn() {
  expect(phone.navigations).toEqual([{how: 'reLaunch', url: '/pages/login/login?expired=1'}])
  expect(phone.storage.has('onecard.token')).toBe(false)
}

module.exports = {apiGet, departmentReplies, lastForm, pickDemoResidents, expectLayout, signInThenExpire, expectSentToSignIn, phone, open, idle, newResident, smsCode, expireToken, freshPhone, signIn, lastNavigation,
  tempPicture, elderSizeProblems, fontPx, config, MODES: ['standard', 'elder']}
