const h = require('./harness')

describe.each(h.MODES)('补贴到账 (%s)', mode => {
  beforeEach(() => h.freshPhone(mode))

  test('paid arrivals newest first, ten a page, with the yearly total', async () => {
    await h.signIn(await h.newResident({card: 'active', paid: 12}))
    const page = await h.open('subsidies')
    h.expectLayout(page, mode)
    const items = page.all('.subsidy')
    expect(items).toHaveLength(10)
    expect(page.text('.subsidy')).toContain('高龄津贴')
    expect(page.text('.subsidy')).toContain('100.00')
    expect(page.text('.subsidy')).toContain('2026-01')
    expect(page.text('#year-total')).toBe('100.00元')
    expect(page.has('#previous-page')).toBe(false)
    await page.tap('#next-page')
    h.expectLayout(page, mode)
    expect(page.all('.subsidy')).toHaveLength(2)
    expect(page.has('#next-page')).toBe(false)
    await page.tap('#previous-page')
    expect(page.all('.subsidy')).toHaveLength(10)
  })

  test('a failed payment says why and what to do, and leads to a question about it', async () => {
    await h.signIn(await h.newResident({card: 'active', paid: 1, failed: true}))
    const page = await h.open('subsidies')
    h.expectLayout(page, mode)
    const failed = page.comp.querySelector('.failed')
    expect(failed).toBeTruthy()
    const text = failed.dom.textContent
    expect(text).toContain('耕地地力保护补贴')
    expect(text).toContain('原因：账户已销户')
    expect(text).toMatch(/怎么办：.+/)
    expect(failed.dom.querySelector('[class*=outcome]').className).toMatch(/bad/)
    await page.tap('.ask')
    expect(h.lastNavigation().url).toMatch(/^\/pages\/complaints\/complaints\?ledger_entry_id=\d+$/)
  })

  test('no card and nothing paid: says there is nothing yet', async () => {
    await h.signIn(await h.newResident({card: 'none'}))
    const page = await h.open('subsidies')
    h.expectLayout(page, mode)
    expect(page.text('#empty')).toBe('还没有发放记录。')
    expect(page.text('#year-total')).toBe('0.00元')
  })

  test('an unbound account is asked to bind first', async () => {
    await h.signIn(null)
    const page = await h.open('subsidies')
    h.expectLayout(page, mode)
    expect(page.text('#error')).toBe('请先完成实名绑定（姓名、身份证号和短信验证码）')
    await page.tap('#go-bind')
    expect(h.lastNavigation()).toEqual({how: 'navigateTo', url: '/pages/bind/bind'})
  })

  test('an expired token goes back to sign-in', async () => {
    await h.signInThenExpire(await h.newResident({card: 'active', paid: 1}))
    await h.open('subsidies')
    h.expectSentToSignIn()
  })
})
