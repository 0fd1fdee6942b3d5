const h = require('./harness')

describe.each(h.MODES)('首页 (%s)', mode => {
  beforeEach(() => h.freshPhone(mode))

  test('an active card: its status, the next step and the menu', async () => {
    const resident = await h.newResident({card: 'active'})
    await h.signIn(resident)
    expect(h.lastNavigation()).toEqual({how: 'reLaunch', url: '/pages/index/index'})
    const page = await h.open('index')
    expect(page.isElder()).toBe(mode === 'elder')
    expect(page.text('#card-status')).toBe('正常')
    expect(page.text('#next-step')).toContain('补贴将发放到这张卡的金融账户')
    expect(page.text('#menu')).toContain('补贴到账')
    if (mode === 'elder') expect(h.elderSizeProblems(page)).toEqual([])
  })
})

