// 补贴到账: every payment, newest first, a page at a time; this year's total; what to do when one failed.
const api = require('../../utils/api')

const PER_PAGE = 10

Component({
  behaviors: [require('../../utils/base')],
  data: {loaded: false, items: [], page: 1, hasNext: false, year: null, yearTotal: ''},
  methods: {
    onLoad() {
      return this.load(1)
    },
    onShow() {
      this.syncMode()
    },
    load(page) {
      this.clearMessages()
      return api.get(`/subsidies?page=${page}&per_page=${PER_PAGE}`).then(data => this.setData({
        loaded: true, items: data.items, page: data.page, hasNext: data.has_next, year: data.year,
        yearTotal: data.year_total,
      }), err => this.showError(err))
    },
    nextPage() {
      return this.load(this.data.page + 1)
    },
    previousPage() {
      return this.load(this.data.page - 1)
    },
    ask(e) {
      wx.navigateTo({url: `/pages/complaints/complaints?ledger_entry_id=${e.currentTarget.dataset.id}`})
    },
  },
})
