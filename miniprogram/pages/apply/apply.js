// 申领社保卡 / 补办新卡: bank, how to get the card (the collection branch picked from that bank's list, as
// /banks gives it), and the resident's photo (wx.chooseMedia, sent with wx.uploadFile as the multipart field
// "photo"). A replacement may go without a photo.
const api = require('../../utils/api')

Component({
  behaviors: [require('../../utils/base')],
  data: {card: null, banks: [], bankNames: [], bankIndex: 0, delivery: 'branch', branchNames: [], branchIndex: -1,
    branchPick: 0, branchLabel: '请选择网点',
    postalAddress: '', photoPath: '', photoSize: 0, replacing: false},
  methods: {
    onLoad() {
      return Promise.all([api.get('/card'), api.get('/banks', {auth: false})]).then(([card, banks]) => {
        this.setData({card, banks, replacing: !!card.can_replace,
          bankNames: banks.map(b => `${b.name}（${b.branch_name}）`)})
        this.chooseBank(0)
      }, err => this.showError(err))
    },
    onShow() {
      this.syncMode()
    },
    // Another bank: its own branches, and no branch chosen yet (a branch belongs to one bank only).
    chooseBank(index) {
      const bank = this.data.banks[index]
      this.setData({bankIndex: index, branchIndex: -1, branchPick: 0, branchLabel: '请选择网点',
        branchNames: bank ? (bank.branches || []).map(br => br.name) : []})
    },
    onBank(e) {
      this.chooseBank(Number(e.detail.value))
    },
    onDelivery(e) {
      this.setData({delivery: e.detail.value})
    },
    onBranch(e) {
      const index = Number(e.detail.value)
      this.setData({branchIndex: index, branchPick: index, branchLabel: this.data.branchNames[index] || '请选择网点'})
    },
    onAddress(e) {
      this.setData({postalAddress: e.detail.value})
    },
    choosePhoto() {
      return new Promise(resolve => wx.chooseMedia({
        count: 1, mediaType: ['image'], sourceType: ['album', 'camera'], sizeType: ['compressed'],
        success: res => {
          const file = res.tempFiles[0]
          this.setData({photoPath: file.tempFilePath, photoSize: file.size})
          resolve()
        },
        fail: () => resolve(),   // the resident closed the picker: nothing changes
      }))
    },
    submit() {
      const bank = this.data.banks[this.data.bankIndex]
      if (!bank) {
        this.showError({message: '请选择银行'})
        return Promise.resolve()
      }
      const form = {bank_id: String(bank.id), delivery: this.data.delivery}
      const branch = (bank.branches || [])[this.data.branchIndex]
      // No branch chosen: the API answers in its own words (请从列表中选择领卡网点), beside the other faults.
      if (this.data.delivery === 'branch' && branch) form.branch_id = String(branch.id)
      if (this.data.postalAddress) form.postal_address = this.data.postalAddress
      this.clearMessages()
      this.setData({busy: true})
      const path = this.data.replacing ? '/card/replacement' : '/card/applications'
      return api.submitForm(path, form, this.data.photoPath).then(() => {
        this.setData({busy: false})
        wx.redirectTo({url: '/pages/card/card?done=apply'})
      }, err => this.showError(err))
    },
  },
})
