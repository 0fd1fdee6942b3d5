const h = require('./harness')

describe.each(h.MODES)('投诉咨询 (%s)', mode => {
  beforeEach(() => h.freshPhone(mode))

  test('a question about a failed payment reaches its department and is listed', async () => {
    await h.signIn(await h.newResident({card: 'active', failed: true}))
    const subsidies = await h.open('subsidies')
    const failed = subsidies.data.items.find(i => i.outcome === 'failed')
    const page = await h.open('complaints', {ledger_entry_id: String(failed.id)})
    h.expectLayout(page, mode)
    expect(page.text('.label')).toContain('（关于您选的那笔发放）')
    await page.type('#text', '这笔补贴为什么没到账？')
    await page.tap('#submit')
    expect(page.text('#notice')).toBe('您的问题已提交，主管部门答复后会显示在这里。')
    h.expectLayout(page, mode)
    const listed = page.text('.complaint')
    expect(listed).toContain('这笔补贴为什么没到账？')
    expect(listed).toContain('县农业农村局')
    const sent = h.phone.requests.find(r => r.method === 'POST' && r.url.endsWith('/complaints'))
    expect(JSON.parse(sent.body).ledger_entry_id).toBe(failed.id)
  })

  test("an empty question is refused in the API's words", async () => {
    await h.signIn(await h.newResident({card: 'none'}))
    const page = await h.open('complaints')
    await page.tap('#submit')
    expect(page.text('#error')).toBeTruthy()
    expect(page.text('#error')).toMatch(/[\u4e00-\u9fa5]/)
    expect(page.all('.complaint')).toHaveLength(0)
    h.expectLayout(page, mode)
  })

  test('an unbound account is asked to bind first', async () => {
    await h.signIn(null)
    const page = await h.open('complaints')
    h.expectLayout(page, mode)
    expect(page.text('#error')).toBe('请先完成实名绑定（姓名、身份证号和短信验证码）')
    expect(page.has('#go-bind')).toBe(true)
  })

  test('an expired token goes back to sign-in', async () => {
    await h.signInThenExpire(await h.newResident({card: 'active'}))
    await h.open('complaints')
    h.expectSentToSignIn()
  })
})
