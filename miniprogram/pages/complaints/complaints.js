// 投诉咨询: ask about anything, or about one payment (?ledger_entry_id= from 补贴到账); see the answers.
const api = require('../../utils/api')

Component({
  behaviors: [require('../../utils/base')],
  data: {ledgerEntryId: null, text: '', items: []},
  methods: {
    onLoad(options) {
      const id = Number((options || {}).ledger_entry_id)
      this.setData({ledgerEntryId: id > 0 ? id : null})
      return this.load()
    },
    onShow() {
      this.syncMode()
    },
    load() {
      return api.get('/complaints').then(items => this.setData({items}), err => this.showError(err))
    },
    onText(e) {
      this.setData({text: e.detail.value})
    },
    submit() {
      this.clearMessages()
      this.setData({busy: true})
      return api.post('/complaints', {text: this.data.text, ledger_entry_id: this.data.ledgerEntryId}).then(() => {
        this.setData({busy: false, text: '', notice: '您的问题已提交，主管部门答复后会显示在这里。'})
        return this.load()
      }, err => this.showError(err))
    },
  },
})
