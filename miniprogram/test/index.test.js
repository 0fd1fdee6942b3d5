const h = require('./harness')

describe.each(h.MODES)('首页 (%s)', mode => {
  beforeEach(() => h.freshPhone(mode))

  test('an active card: its status, the next step and the menu', async () => {
    await h.signIn(await h.newResident({card: 'active'}))
    expect(h.lastNavigation()).toEqual({how: 'reLaunch', url: '/pages/index/index'})
    const page = await h.open('index')
    h.expectLayout(page, mode)
    expect(page.text('#card-status')).toBe('正常')
    expect(page.text('#next-step')).toBe('社保卡状态正常，补贴将发放到这张卡的金融账户。')
    expect(page.text('#menu')).toContain('补贴到账')
    expect(page.text('#menu')).not.toContain('激活社保卡')
    // 长辈版 keeps one task per screen: the secondary tasks stay on their own pages.
    for (const secondary of ['挂失', '投诉咨询', '补贴政策']) {
      if (mode === 'elder') expect(page.text('#menu')).not.toContain(secondary)
      else expect(page.text('#menu')).toContain(secondary)
    }
    await page.tap('#menu .btn')
    expect(h.lastNavigation()).toEqual({how: 'navigateTo', url: '/pages/subsidies/subsidies'})
  })

  test('no card: says so and offers to apply', async () => {
    await h.signIn(await h.newResident({card: 'none'}))
    const page = await h.open('index')
    h.expectLayout(page, mode)
    expect(page.text('#card-status')).toBe('未申领')
    expect(page.text('#next-step')).toContain('您还没有社保卡')
    expect(page.text('#menu')).toContain('申领社保卡')
  })

  test('a card issued but not activated: shown as not payable, with activation first', async () => {
    await h.signIn(await h.newResident({card: 'issued'}))
    const page = await h.open('index')
    h.expectLayout(page, mode)
    expect(page.text('#card-status')).toBe('已发放未激活')
    expect(page.comp.querySelector('#card-status').dom.className).toMatch(/bad/)
    expect(page.text('#next-step')).toContain('补贴无法到账')
    expect(page.text('#menu')).toContain('激活社保卡')
  })

  test('an unbound account is sent to real-name binding', async () => {
    await h.signIn(null)
    expect(h.lastNavigation()).toEqual({how: 'redirectTo', url: '/pages/bind/bind'})
    const page = await h.open('index')
    h.expectLayout(page, mode)
    expect(page.text('#unbound')).toContain('第一次使用，请先实名绑定。')
    expect(page.has('#card')).toBe(false)
    await page.tap('#go-bind')
    expect(h.lastNavigation()).toEqual({how: 'navigateTo', url: '/pages/bind/bind'})
  })

  test('an expired token goes back to sign-in', async () => {
    await h.signInThenExpire(await h.newResident({card: 'active'}))
    const page = await h.open('index')
    h.expectSentToSignIn()
    expect(page.has('#card')).toBe(false)
  })

  test('never signed in: straight to sign-in', async () => {
    await h.open('index')
    expect(h.lastNavigation()).toEqual({how: 'reLaunch', url: '/pages/login/login'})
  })
})
