const h = require('./harness')

const TEMPLATE = process.env.MP_TEMPLATE_ID

describe.each(h.MODES)('设置 (%s)', mode => {
  beforeEach(() => h.freshPhone(mode))

  test('长辈版 switches the layout and stays on for the next page', async () => {
    await h.signIn(await h.newResident({card: 'active'}))
    const page = await h.open('settings')
    h.expectLayout(page, mode)
    expect(page.text('#elder-toggle')).toBe(mode === 'elder' ? '关闭长辈版' : '打开长辈版')
    await page.tap('#elder-toggle')
    const other = mode === 'elder' ? 'standard' : 'elder'
    h.expectLayout(page, other)
    expect(page.text('#notice')).toBe(other === 'elder' ? '已打开长辈版。' : '已关闭长辈版。')
    h.expectLayout(await h.open('index'), other)
  })

  test('subscribing to arrival messages: each “允许” is one more message', async () => {
    await h.signIn(await h.newResident({card: 'active'}))
    const page = await h.open('settings')
    expect(page.text('#remaining')).toContain('还可以收到 0 条微信到账提醒')
    await page.tap('#subscribe')
    expect(h.phone.subscribeRequests).toEqual([[TEMPLATE]])
    expect(page.text('#notice')).toBe('订阅成功，下一笔补贴到账时会收到微信提醒。')
    expect(page.text('#remaining')).toContain('还可以收到 1 条')
    await page.tap('#subscribe')
    expect(page.text('#remaining')).toContain('还可以收到 2 条')
    h.expectLayout(page, mode)
    // Declining records nothing.
    h.phone.subscribeAnswer = 'reject'
    await page.tap('#subscribe')
    expect(page.text('#notice')).toBe('您没有允许，到账时不会收到微信提醒（短信照常）。')
    expect((await h.open('settings')).text('#remaining')).toContain('还可以收到 2 条')
  })

  test('the arrival SMS switch', async () => {
    await h.signIn(await h.newResident({card: 'active'}))
    let page = await h.open('settings')
    expect(page.text('#sms-state')).toBe('已开启')
    await page.tap('#sms-toggle')
    expect(page.text('#sms-state')).toBe('已关闭')
    expect(page.text('#notice')).toBe('已关闭到账短信。')
    page = await h.open('settings')
    expect(page.text('#sms-state')).toBe('已关闭')
    await page.tap('#sms-toggle')
    expect(page.text('#sms-state')).toBe('已开启')
    h.expectLayout(page, mode)
  })

  test('who acted for me: the village assistant who switched my SMS off', async () => {
    await h.signIn(await h.newResident({card: 'active', assisted: true}))
    const page = await h.open('settings')
    h.expectLayout(page, mode)
    expect(page.all('.assisted')).toHaveLength(1)
    expect(page.text('.assisted')).toMatch(/\d{4}-\d{2}-\d{2}/)
    expect(page.text('#sms-state')).toBe('已关闭')
  })

  test('nobody acted for me: says so', async () => {
    await h.signIn(await h.newResident({card: 'none'}))
    const page = await h.open('settings')
    expect(page.text('#no-actions')).toBe('没有人代您办理过业务。')
  })

  test('an unbound account can still switch 长辈版, and is asked to bind for the rest', async () => {
    await h.signIn(null)
    const page = await h.open('settings')
    h.expectLayout(page, mode)
    expect(page.text('#error')).toBe('请先完成实名绑定（姓名、身份证号和短信验证码）')
    expect(page.has('#subscribe')).toBe(false)
    await page.tap('#elder-toggle')
    h.expectLayout(page, mode === 'elder' ? 'standard' : 'elder')
  })

  test('an expired token goes back to sign-in', async () => {
    await h.signInThenExpire(await h.newResident({card: 'active'}))
    await h.open('settings')
    h.expectSentToSignIn()
  })
})
