"""Must-show 1: the report opens in headless Chromium without console errors, and every
figure renders at 800 px and 1400 px without horizontal overflow (screenshots taken;
kept in QSENSE_SCREENSHOTS when that names a folder)."""

import os
import shutil

import pytest

WIDTHS = (800, 1400)


def _viewport(driver, width, height):
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


@pytest.mark.parametrize("width", WIDTHS)
def test_report_renders_in_chromium(browser, real_report, width, tmp_path):
    from selenium.webdriver.support.wait import WebDriverWait

    _, path = real_report
    _viewport(browser, width, 900)
    browser.get(path.resolve().as_uri())
    # get() can return while a large page is still parsing: wait (up to 60 s) until the
    # document and every image have loaded
    WebDriverWait(browser, 60, poll_frequency=0.1).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && "
        "Array.from(document.images).every(i => i.complete);"))
    state = browser.execute_script("""
        const imgs = Array.from(document.images);
        return {ready: document.readyState,
                complete: imgs.every(i => i.complete),
                inner: window.innerWidth,
                scroll: document.documentElement.scrollWidth,
                body: document.body.scrollWidth,
                images: imgs.map(i => {const r = i.getBoundingClientRect();
                    return {alt: i.alt, natural: i.naturalWidth, left: r.left,
                            right: r.right, height: r.height};})};""")
    assert state["ready"] == "complete" and state["complete"]
    assert state["inner"] == width
    assert state["scroll"] <= state["inner"] and state["body"] <= state["inner"], state
    assert len(state["images"]) == 15
    for img in state["images"]:
        assert img["natural"] > 0, img  # decoded
        assert img["height"] > 0, img
        assert 0 <= img["left"] and img["right"] <= width + 0.5, img  # within the viewport
    # a full-page screenshot at this width
    height = browser.execute_script("return document.documentElement.scrollHeight")
    _viewport(browser, width, height)
    shot = tmp_path / f"report-{width}.png"
    assert browser.save_screenshot(str(shot))
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == width
    keep = os.environ.get("QSENSE_SCREENSHOTS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copy(shot, keep)
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
