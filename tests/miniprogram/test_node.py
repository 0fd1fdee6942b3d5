"""The WeChat mini-program (miniprogram/) under Node: its Jest tests drive every page, in the standard and
the 长辈版 layout, against this citizen API served for real (werkzeug in a thread, the test database, the fake
api.weixin.qq.com for wx.login codes). Skipped, with the reason, where node or npm is not installed."""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

from tests.miniprogram.serve_for_node import MiniProgramControl

MINIPROGRAM = pathlib.Path(__file__).resolve().parents[2] / "miniprogram"
NODE, NPM = shutil.which("node"), shutil.which("npm")
TEMPLATE_ID = "TPL_ARRIVAL_MP"

pytestmark = pytest.mark.skipif(not (NODE and NPM), reason="node/npm 未安装：小程序的 Node 测试（miniprogram/）没有运行；"
                                "装 Node.js 20 后 make test 会运行它们（CI 的 .ci/run 先 npm ci）")


def _npm(*args: str, env: dict | None = None, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run([NPM, *args], cwd=MINIPROGRAM, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def control(app, county, fake_wechat, citizen_env, make_staff, monkeypatch):
    monkeypatch.setitem(app.config, "WECHAT_APPID", fake_wechat.appid)
    monkeypatch.setitem(app.config, "WECHAT_SECRET", fake_wechat.secret)
    monkeypatch.setitem(app.config, "WECHAT_API_BASE_URL", fake_wechat.base_url)
    monkeypatch.setitem(app.config, "WECHAT_ARRIVAL_TEMPLATE_ID", TEMPLATE_ID)
    # Named "village" as in the demo: the demo step picks its residents from that account's village.
    staff = make_staff("village_staff", "village", village_id=county["villages"][0])
    server = MiniProgramControl(app, fake_wechat, county, village_staff_actor=lambda: staff.actor)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_every_page_against_the_running_citizen_api(live_server, control):
    if not (MINIPROGRAM / "node_modules" / ".package-lock.json").exists():
        installed = _npm("ci", "--no-audit", "--no-fund")
        assert installed.returncode == 0, installed.stdout + installed.stderr
    env = {**os.environ, "MP_API_BASE": f"{live_server}/api/citizen/v1", "MP_CONTROL_BASE": control.base_url,
           "MP_TEMPLATE_ID": TEMPLATE_ID}
    # MP_JEST_ARGS narrows the run while working on one page, e.g. MP_JEST_ARGS="test/index.test.js -t elder".
    result = _npm("test", "--silent", "--", *os.environ.get("MP_JEST_ARGS", "").split(), env=env)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-20000:]
