"""Shared set-up of the headless-Chromium tests: a live server on 127.0.0.1 and Debian's chromium.

Loaded as a pytest plugin from conftest. Test modules mark themselves with ``needs_chromium`` (skipped
with a reason where /usr/bin/chromium is missing; CI installs it) and take the ``live_server`` and
``browser`` fixtures. Screenshots go to ``SHOTS`` (git-ignored) for review.
"""
from __future__ import annotations

import json
import os
import pathlib
import threading

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = pathlib.Path(__file__).parent / "screenshots"
# axe-core from the npm registry (tests/browser_assets/package.json, installed by .ci/run with npm ci).
AXE = pathlib.Path(__file__).parent / "browser_assets" / "node_modules" / "axe-core" / "axe.min.js"
AXE_FAILS_ON = ("critical", "serious")

needs_chromium = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed "
                       "(apt-get install -y chromium fonts-wqy-zenhei); CI installs it"),
]


@pytest.fixture
def live_server(app, db):
    """The app served by werkzeug in a thread, against the test database; yields its base URL."""
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def browser():
    """A headless Chromium (Playwright driving Debian's binary; no browser download)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def axe_problems(page, name: str) -> list[str]:
    """The critical and serious accessibility violations axe-core finds on the page ([] when none).

    axe is evaluated through the DevTools protocol, so the console's Content-Security-Policy (script-src
    'self') neither blocks it nor has to be loosened. Skips (with the reason) where axe-core is not installed.
    """
    if not AXE.exists():
        pytest.skip("axe-core is not installed: npm ci --prefix tests/browser_assets (.ci/run does it)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return [f"{name}: {v['impact']} {v['id']} ({v['help']}) at {json.dumps(v['nodes'], ensure_ascii=False)}"
            for v in result if v["impact"] in AXE_FAILS_ON]


def checked_screenshot(page, path, **options) -> None:
    """A screenshot for review, and the page's axe-core check (no critical or serious violation)."""
    page.screenshot(path=str(path), **options)
    problems = axe_problems(page, pathlib.Path(str(path)).stem)
    assert not problems, "\n".join(problems)
