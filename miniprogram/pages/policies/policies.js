// 补贴政策: the public list of coded subsidy projects (no sign-in needed).
const api = require('../../utils/api')

Component({
  behaviors: [require('../../utils/base')],
  data: {loaded: false, policies: []},
  methods: {
    onLoad() {
      return api.get('/policies', {auth: false}).then(policies => this.setData({policies, loaded: true}),
        err => this.showError(err))
    },
    onShow() {
      this.syncMode()
    },
  },
})
