// 投诉咨询: ask about anything, or about one payment (?ledger_entry_id= from 补贴到账); see the answers, and
// confirm an answered case (满意) or send it back with a reason (不满意). Which of the two a case offers is the
// API's can_confirm / can_reopen: the state rule stays on the server.
const api = require('../../utils/api')

Component({
  behaviors: [require('../../utils/base')],
  data: {ledgerEntryId: null, text: '', items: [], reopening: null, reopenText: ''},
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
    confirmCase(e) {
      const id = e.currentTarget.dataset.id
      this.clearMessages()
      return api.post(`/complaints/${id}/confirm`, {}).then(() => {
        this.setData({notice: '已确认办结，感谢您的反馈。', reopening: null})
        return this.load()
      }, err => this.showError(err))
    },
    startReopen(e) {
      this.clearMessages()
      this.setData({reopening: e.currentTarget.dataset.id, reopenText: ''})
    },
    onReopenText(e) {
      this.setData({reopenText: e.detail.value})
    },
    sendReopen() {
      const id = this.data.reopening
      this.clearMessages()
      this.setData({busy: true})
      return api.post(`/complaints/${id}/reopen`, {text: this.data.reopenText}).then(() => {
        this.setData({busy: false, reopening: null, reopenText: '',
          notice: '已提交您的意见，主管部门会重新办理并在期限内答复。'})
        return this.load()
      }, err => this.showError(err))
    },
  },
})
