const h = require('./harness')

describe.each(h.MODES)('补贴政策 (%s)', mode => {
  beforeEach(() => h.freshPhone(mode))

  test('the public list, readable before signing in', async () => {
    const page = await h.open('policies')
    h.expectLayout(page, mode)
    expect(h.phone.navigations).toEqual([])
    expect(h.phone.requests.every(r => !r.header.Authorization)).toBe(true)
    const text = page.text()
    expect(text).toContain('高龄津贴')
    expect(text).toContain('县民政局')
    expect(text).toContain('耕地地力保护补贴')
    expect(text).toContain('按核定标准发放')
    expect(text).toContain('谁可以领：年满80周岁的本县户籍老年人')
  })

  test('the same list for a signed-in resident, even with an expired token', async () => {
    await h.signInThenExpire(await h.newResident({card: 'active'}))
    const page = await h.open('policies')
    h.expectLayout(page, mode)
    expect(page.all('.policy').length).toBeGreaterThanOrEqual(2)
    expect(h.phone.navigations).toEqual([])
  })
})
