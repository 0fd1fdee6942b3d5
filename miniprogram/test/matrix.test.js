// Every page for every kind of resident, in both layouts: what it shows, and that nothing else goes wrong.
const h = require('./harness')

const PAGES = ['index', 'subsidies', 'card', 'apply', 'verify', 'policies', 'complaints', 'settings']
const CASES = {
  'an active card': {card: 'active', paid: 2, label: '正常'},
  'no card': {card: 'none', label: '未申领'},
  'a card issued but not activated': {card: 'issued', label: '已发放未激活'},
  'a failed payment': {card: 'active', failed: true, label: '正常'},
  'an unbound account': null,
  'an expired token': {card: 'active', expired: true},
}
const BINDING = '请先完成实名绑定（姓名、身份证号和短信验证码）'

function expectBoundPage(name, page, spec) {
  expect(page.has('#error')).toBe(false)
  const shows = {
    index: () => expect(page.text('#card-status')).toBe(spec.label),
    card: () => expect(page.text('#card-status')).toBe(spec.label),
    verify: () => expect(page.text('#card-label')).toBe(spec.label),
    subsidies: () => {
      if (spec.failed) expect(page.text('.failed')).toContain('怎么办')
      else if (spec.paid) expect(page.all('.subsidy')).toHaveLength(spec.paid)
      else expect(page.text('#empty')).toBe('还没有发放记录。')
    },
    apply: () => expect(page.has(spec.card === 'none' ? '#form' : '#has-card')).toBe(true),
    policies: () => expect(page.all('.policy').length).toBeGreaterThanOrEqual(2),
    complaints: () => expect(page.has('#text')).toBe(true),
    settings: () => expect(page.text('#sms-state')).toBe('已开启'),
  }
  shows[name]()
}

describe.each(h.MODES)('every page (%s)', mode => {
  beforeEach(() => h.freshPhone(mode))

  test.each(Object.keys(CASES))('%s', async kind => {
    const spec = CASES[kind]
    const token = spec && spec.expired ? await h.signInThenExpire(await h.newResident(spec))
      : (await h.signIn(spec && await h.newResident(spec)), h.phone.storage.get('onecard.token'))
    for (const name of PAGES) {
      h.phone.storage.set('onecard.token', token)   // as if each page were opened first after the sign-in
      h.phone.navigations = []
      const page = await h.open(name, name === 'verify' ? {action: 'activate'} : {})
      h.expectLayout(page, mode)
      if (name === 'policies') expectBoundPage(name, page, spec || {})   // public: the same for everyone
      else if (spec && spec.expired) h.expectSentToSignIn()
      else if (!spec && name === 'index') expect(page.text('#unbound')).toContain('请先实名绑定')
      else if (!spec) expect(page.text('#error')).toBe(BINDING)
      else expectBoundPage(name, page, spec)
    }
  })
})
