// The tests need the citizen API and its WeChat-side helpers running: pytest starts both
// (tests/miniprogram/test_node.py) and passes their addresses in MP_API_BASE and MP_CONTROL_BASE.
module.exports = async () => {
  if (!process.env.MP_API_BASE || !process.env.MP_CONTROL_BASE) {
    throw new Error('MP_API_BASE / MP_CONTROL_BASE 未设置：请在项目根目录运行 '
      + '`.venv/bin/python -m pytest tests/miniprogram`，它会启动接口服务再运行 npm test。')
  }
}
