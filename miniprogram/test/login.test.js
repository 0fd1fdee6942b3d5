const h = require('./harness')

describe.each(h.MODES)('登录 (%s)', mode => {
  beforeEach(() => h.freshPhone(mode))

  test('a bound WeChat signs in with wx.login and goes to 首页', async () => {
    const page = await h.signIn(await h.newResident({card: 'active'}))
    h.expectLayout(page, mode)
    expect(h.lastNavigation()).toEqual({how: 'reLaunch', url: '/pages/index/index'})
    expect(h.phone.storage.get('onecard.token')).toMatch(/.{20,}/)
    expect(h.phone.storage.get('onecard.bound')).toBe(true)
    const login = h.phone.requests.find(r => r.url.endsWith('/auth/wechat-login'))
    expect(JSON.parse(login.body).code).toMatch(/^[0-9a-f]{32}$/)
  })

  test('a new WeChat signs in and goes to real-name binding', async () => {
    const page = await h.signIn(null)
    h.expectLayout(page, mode)
    expect(h.lastNavigation()).toEqual({how: 'redirectTo', url: '/pages/bind/bind'})
    expect(h.phone.storage.get('onecard.bound')).toBe(false)
  })

  test('after an expired token it says so, and signs in again', async () => {
    const resident = await h.newResident({card: 'active'})
    h.phone.openid = resident.openid
    const page = await h.open('login', {expired: '1'})
    h.expectLayout(page, mode)
    expect(page.text('#expired')).toBe('登录已过期，请重新登录。')
    expect(h.lastNavigation()).toEqual({how: 'reLaunch', url: '/pages/index/index'})
  })

  test("a refused wx.login code shows the API's message and can be retried", async () => {
    await h.signIn(await h.newResident({card: 'none'}))
    h.phone.navigations = []
    h.phone.replayLoginCode = true   // WeChat takes each code once: the API refuses the second use
    const page = await h.open('login')
    h.expectLayout(page, mode)
    expect(page.text('#error')).toBe('登录凭证无效或已过期，请重新进入小程序')
    expect(h.phone.navigations).toEqual([])
    h.phone.replayLoginCode = false
    await page.tap('#wechat-login')
    expect(page.has('#error')).toBe(false)
    expect(h.lastNavigation()).toEqual({how: 'reLaunch', url: '/pages/index/index'})
  })

  test('in development the development login stands in for WeChat', async () => {
    h.config.ENVS.develop.devLogin = true
    try {
      const resident = await h.newResident({card: 'active', bound: false})
      const page = await h.open('login')
      h.expectLayout(page, mode)
      expect(h.phone.requests.map(r => r.url.split('/v1')[1])).toEqual(['/auth/dev-residents'])   // no wx.login
      expect(page.text('#dev-login')).toContain('开发演示登录')
      await page.type('#dev-id-number', resident.id_number)
      await page.tap('#dev-sign-in')
      expect(h.lastNavigation()).toEqual({how: 'reLaunch', url: '/pages/index/index'})
      // The demo residents `onecard demo` picked, one tap each.
      await h.pickDemoResidents()
      const again = await h.open('login')
      h.expectLayout(again, mode)
      expect(again.text('.demo-resident')).toMatch(/^演示居民 .\*.+（\d{6}\*+\w，社保卡正常）$/)
      h.phone.navigations = []
      await again.tap('.demo-resident')
      expect(h.lastNavigation()).toEqual({how: 'reLaunch', url: '/pages/index/index'})
      expect((await h.open('index')).text('#card-status')).toBe('正常')
    } finally {
      h.config.ENVS.develop.devLogin = false
    }
  })
})

