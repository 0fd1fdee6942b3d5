// 我的社保卡: status, bank and masked numbers, the one thing to do now (apply, activate, replace, report a
// loss), and the progress of my applications.
const api = require('../../utils/api')

const DONE = {
  apply: '申请已提交，请留意短信通知。',
  activate: '激活成功，补贴可以正常到账了。',
  loss: '挂失成功。需要新卡请点“补办新卡”。',
}

Component({
  behaviors: [require('../../utils/base')],
  data: {card: null, applications: []},
  methods: {
    onLoad(options) {
      this.setData({notice: DONE[(options || {}).done] || ''})
      return this.load()
    },
    onShow() {
      this.syncMode()
    },
    load() {
      return Promise.all([api.get('/card'), api.get('/card/applications')])
        .then(([card, applications]) => this.setData({card, applications}), err => this.showError(err))
    },
  },
})
