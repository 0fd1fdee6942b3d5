// 申领社保卡 / 补办新卡: bank, how to get the card, and the resident's photo (wx.chooseMedia, sent with
// wx.uploadFile as the multipart field "photo"). A replacement may go without a photo.
const api = require('../../utils/api')

Component({
  behaviors: [require('../../utils/base')],
  data: {card: null, banks: [], bankNames: [], bankIndex: 0, delivery: 'branch', branch: '', postalAddress: '',
    photoPath: '', photoSize: 0, replacing: false},
  methods: {
    onLoad() {
      return Promise.all([api.get('/card'), api.get('/banks', {auth: false})]).then(([card, banks]) => this.setData({
        card, banks, replacing: !!card.can_replace,
        bankNames: banks.map(b => `${b.name}（${b.branch_name}）`),
      }), err => this.showError(err))
    },
    onShow() {
      this.syncMode()
    },
    onBank(e) {
      this.setData({bankIndex: Number(e.detail.value)})
    },
    onDelivery(e) {
      this.setData({delivery: e.detail.value})
    },
    onBranch(e) {
      this.setData({branch: e.detail.value})
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
      if (this.data.branch) form.branch = this.data.branch
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
