// Where the citizen API lives, per version of the mini-program (wx.getAccountInfoSync().miniProgram.envVersion).
// develop: WeChat DevTools against `make run` on this computer (tick 不校验合法域名 in DevTools);
//          devLogin offers the development login, because wx.login's code can only be exchanged by
//          a server configured with this mini-program's real AppID and AppSecret.
// trial / release: must be HTTPS on a domain registered in the mini-program admin console as a
//          request, uploadFile and downloadFile legal domain (README “微信小程序”). Change API_HOST at deployment.
const API_HOST = 'https://onecard.example.com'   // placeholder: the county's HTTPS host

const ENVS = {
  develop: {apiBase: 'http://127.0.0.1:5000/api/citizen/v1', devLogin: true},
  trial: {apiBase: `${API_HOST}/api/citizen/v1`, devLogin: false},
  release: {apiBase: `${API_HOST}/api/citizen/v1`, devLogin: false},
}

function envVersion() {
  try {
    return wx.getAccountInfoSync().miniProgram.envVersion
  } catch (err) {
    return 'release'   // older base libraries: behave as the published version
  }
}

function current() {
  return ENVS[envVersion()] || ENVS.release
}

module.exports = {ENVS, current}
