const h = require('./harness')

describe.each(h.MODES)('我的社保卡 (%s)', mode => {
  beforeEach(() => h.freshPhone(mode))

  test('an active card: bank and masked numbers; reporting it lost with the SMS code', async () => {
    await h.signIn(await h.newResident({card: 'active'}))
    let page = await h.open('card')
    h.expectLayout(page, mode)
    expect(page.text('#card-status')).toBe('正常')
    expect(page.text('#bank-name')).toBeTruthy()
    expect(page.text('#card-number')).toMatch(/^\*+\d{4}$/)
    expect(page.text('#account')).toMatch(/\d{4}$/)
    expect(page.text('#id-masked')).toMatch(/\*/)
    expect(page.has('#go-activate') || page.has('#go-apply')).toBe(false)
    await page.tap('#go-loss')
    expect(h.lastNavigation()).toEqual({how: 'navigateTo', url: '/pages/verify/verify?action=loss'})

    page = await h.open('verify', {action: 'loss'})
    h.expectLayout(page, mode)
    expect(h.phone.titles).toContain('挂失社保卡')
    expect(page.text('#card-label')).toBe('正常')
    await page.tap('#send-code')
    expect(page.text('#message')).toMatch(/验证码/)
    h.expectLayout(page, mode)
    await page.type('#code', await h.smsCode(h.phone.resident))
    await page.tap('#confirm')
    expect(h.lastNavigation()).toEqual({how: 'redirectTo', url: '/pages/card/card?done=loss'})

    page = await h.open('card', {done: 'loss'})
    expect(page.text('#notice')).toBe('挂失成功。需要新卡请点“补办新卡”。')
    expect(page.text('#card-status')).toBe('挂失')
    expect(page.has('#go-replace')).toBe(true)
    expect(page.has('#go-loss')).toBe(false)
  })

  test('a card issued but not activated: activation with the SMS code makes it payable', async () => {
    await h.signIn(await h.newResident({card: 'issued'}))
    let page = await h.open('card')
    h.expectLayout(page, mode)
    expect(page.text('#card-status')).toBe('已发放未激活')
    await page.tap('#go-activate')
    expect(h.lastNavigation()).toEqual({how: 'navigateTo', url: '/pages/verify/verify?action=activate'})

    page = await h.open('verify', {action: 'activate'})
    expect(h.phone.titles).toContain('激活社保卡')
    await page.tap('#send-code')
    const code = await h.smsCode(h.phone.resident)
    await page.type('#code', code === '000000' ? '111111' : '000000')
    await page.tap('#confirm')
    expect(page.text('#error')).toMatch(/验证码/)   // the API's words for a wrong code
    h.expectLayout(page, mode)
    await page.type('#code', code)
    await page.tap('#confirm')
    expect(h.lastNavigation()).toEqual({how: 'redirectTo', url: '/pages/card/card?done=activate'})

    page = await h.open('card', {done: 'activate'})
    expect(page.text('#notice')).toBe('激活成功，补贴可以正常到账了。')
    expect(page.text('#card-status')).toBe('正常')
  })

  test("no card: the branch picked from the chosen bank's list (from /banks), a photo from wx.chooseMedia, sent by wx.uploadFile with branch_id", async () => {
    const banks = await h.apiGet('/banks')
    const bank = banks[1]
    expect(bank.branches.length).toBeGreaterThanOrEqual(2)
    await h.signIn(await h.newResident({card: 'none'}))
    let page = await h.open('card')
    expect(page.text('#card-status')).toBe('未申领')
    await page.tap('#go-apply')
    expect(h.lastNavigation()).toEqual({how: 'navigateTo', url: '/pages/apply/apply'})

    page = await h.open('apply')
    h.expectLayout(page, mode)
    expect(page.text('.title')).toBe('申领社保卡')
    expect(page.data.branchNames).toEqual(banks[0].branches.map(b => b.name))
    await page.change('#bank', '1')
    expect(page.text('#bank-name')).toContain(bank.name)
    expect(page.data.branchNames).toEqual(bank.branches.map(b => b.name))   // the picker's list: this bank's
    expect(page.text('#branch-name')).toBe('请选择网点')
    const branch = bank.branches[1]
    await page.change('#branch', '1')
    expect(page.text('#branch-name')).toBe(branch.name)
    h.phone.media = h.tempPicture('jpg')
    await page.tap('#choose-photo')
    expect(page.text('#photo-chosen')).toBe('已选好照片')
    h.expectLayout(page, mode)
    await page.tap('#submit')
    expect(page.has('#error')).toBe(false)
    expect(h.lastNavigation()).toEqual({how: 'redirectTo', url: '/pages/card/card?done=apply'})
    expect(h.phone.requests.filter(r => r.upload === 'photo')).toHaveLength(1)
    const sent = h.lastForm('/card/applications')
    expect(sent).toEqual({bank_id: String(bank.id), delivery: 'branch', branch_id: String(branch.id)})

    page = await h.open('card', {done: 'apply'})
    h.expectLayout(page, mode)
    expect(page.text('#notice')).toBe('申请已提交，请留意短信通知。')
    // The card's words follow the application's real step: submitted, not yet 制卡中.
    expect(page.text('#card-status')).toBe('申领已提交')
    expect(page.text('.application')).toContain(branch.name)
    expect(page.text('.app-status')).toBe('已提交')
  })

  test("another bank empties the branch chosen; a missing branch, a missing photo and a file that is not a photo are refused in the API's words", async () => {
    const banks = await h.apiGet('/banks')
    await h.signIn(await h.newResident({card: 'none'}))
    const page = await h.open('apply')
    await page.change('#branch', '0')
    expect(page.text('#branch-name')).toBe(banks[0].branches[0].name)
    await page.change('#bank', '2')
    expect(page.text('#branch-name')).toBe('请选择网点')   // a branch of the first bank is not one of the third's
    expect(page.data.branchNames).toEqual(banks[2].branches.map(b => b.name))
    await page.tap('#submit')
    expect(page.text('#error')).toBe('请从列表中选择领卡网点')
    expect(h.lastForm('/card/applications')).not.toHaveProperty('branch_id')
    h.expectLayout(page, mode)
    await page.change('#delivery', 'post')
    expect(page.has('#branch')).toBe(false)   // posted home: no branch to choose
    await page.change('#delivery', 'branch')
    await page.change('#branch', '0')
    await page.tap('#submit')
    expect(page.text('#error')).toBe('请上传照片（JPG或PNG格式）')
    expect(h.lastForm('/card/applications').branch_id).toBe(String(banks[2].branches[0].id))
    h.phone.media = h.tempPicture('txt')
    await page.tap('#choose-photo')
    await page.tap('#submit')
    expect(page.text('#error')).toBe('照片格式不对，只能上传JPG或PNG图片')
    h.expectLayout(page, mode)
    expect(h.phone.navigations.filter(n => n.how === 'redirectTo')).toEqual([])
  })

  test('a lost card: a replacement may go without a photo, the branch picked from the list', async () => {
    const banks = await h.apiGet('/banks')
    await h.signIn(await h.newResident({card: 'lost'}))
    let page = await h.open('card')
    expect(page.text('#card-status')).toBe('挂失')
    page = await h.open('apply')
    h.expectLayout(page, mode)
    expect(page.text('.title')).toBe('补办新卡')
    await page.change('#branch', '1')
    h.expectLayout(page, mode)
    await page.tap('#submit')
    expect(page.has('#error')).toBe(false)
    expect(h.lastNavigation()).toEqual({how: 'redirectTo', url: '/pages/card/card?done=apply'})
    expect(h.lastForm('/card/replacement')).toEqual({bank_id: String(banks[0].id), delivery: 'branch',
      branch_id: String(banks[0].branches[1].id)})
    page = await h.open('card')
    expect(page.text('.application')).toContain('补')
    expect(page.text('.application')).toContain(banks[0].branches[1].name)
  })

  test('a card already there: nothing to apply for', async () => {
    await h.signIn(await h.newResident({card: 'active'}))
    const page = await h.open('apply')
    h.expectLayout(page, mode)
    expect(page.text('#has-card')).toContain('您已有社保卡（正常），不需要再申领。')
    expect(page.has('#submit')).toBe(false)
  })

  test('an unbound account is asked to bind first', async () => {
    await h.signIn(null)
    for (const name of ['card', 'apply', 'verify']) {
      const page = await h.open(name)
      h.expectLayout(page, mode)
      expect(page.text('#error')).toBe('请先完成实名绑定（姓名、身份证号和短信验证码）')
      expect(page.has('#go-bind')).toBe(true)
    }
  })

  test('an expired token goes back to sign-in', async () => {
    await h.signInThenExpire(await h.newResident({card: 'issued'}))
    await h.open('card')
    h.expectSentToSignIn()
  })
})
