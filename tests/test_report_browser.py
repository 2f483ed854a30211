"""The demo report in a real browser: headless Chromium (Debian's `chromium`) via Playwright.

Skips where Chromium or Playwright is missing, unless WEIGHTSPACE_BROWSER_TESTS=1 (set by
`.ci/run`, which installs Chromium): there a missing browser is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("WEIGHTSPACE_BROWSER_TESTS") == "1"
# no sandbox as root, no GPU, and none of the background connections a closed network refuses
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _browser_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "Playwright is not installed (pip install playwright)"
    else:
        if CHROMIUM:
            return sync_playwright
        reason = "Chromium is not installed (apt-get install chromium)"
    if REQUIRED:
        pytest.fail(f"WEIGHTSPACE_BROWSER_TESTS=1 but {reason}")
    pytest.skip(reason)


def test_report_renders_in_chromium_with_every_image_and_no_console_errors(demo_run, tmp_path):
    sync_playwright = _browser_or_skip()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            messages: list[str] = []
            page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
            failed: list[str] = []
            page.on("requestfailed", lambda r: failed.append(r.url[:80]))
            page.goto((demo_run / "report.html").as_uri(), wait_until="load")
            sizes = page.evaluate(
                "Array.from(document.images, i => [i.complete, i.naturalWidth, i.naturalHeight])"
            )
            headings = page.locator("h2").all_inner_texts()
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert len(sizes) == 6
    assert all(complete and w > 0 and h > 0 for complete, w, h in sizes), sizes
    assert not [m for m in messages if m.startswith(("error", "pageerror"))], messages
    assert not failed, failed
    assert len(headings) == 4 and headings[0].startswith("1. The zoo")
    assert shot.stat().st_size > 10_000
