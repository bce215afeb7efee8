"""The web app in a real browser: Debian's chromium driven by Playwright against `glance serve` on a free
loopback port. Draw a digit with the mouse, upload an image, label with key presses, open Runs, and run
the Live camera page on Chromium's fake camera. A screenshot of every page lands in the test's tmp dir.

Skips (with the reason) where chromium or playwright is missing; CI sets GLANCE_REQUIRE_BROWSER=1 so
there a missing browser fails instead of skipping.
"""
from __future__ import annotations

import csv
import os
import shutil
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest

from .conftest import render_digit
from .test_serve_api import make_pool

CHROMIUM = os.environ.get("GLANCE_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("GLANCE_REQUIRE_BROWSER") == "1"


def _missing() -> str | None:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        return f"chromium not found at {CHROMIUM} (apt-get install chromium chromium-driver)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    return None


reason = _missing()
if reason and REQUIRED:
    raise RuntimeError(f"browser tests are required here (GLANCE_REQUIRE_BROWSER=1) but {reason}")
pytestmark = pytest.mark.skipif(reason is not None, reason=reason or "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_run):
    from glancekit.serve.app import ServeConfig
    root = tmp_path_factory.mktemp("serve")
    pool = make_pool(root / "pool")
    cfg = ServeConfig(project=str(tiny_run.parent.parent), drawings=str(root / "drawings"), label_task="eyes",
                      label_pool=str(pool))
    with serving(cfg) as url:
        yield {"url": url, "root": root, "pool": pool}


@contextmanager
def serving(cfg):  # type: ignore[no-untyped-def]
    """`glance serve` with this config on a free loopback port, in a thread, for the length of the block."""
    import uvicorn

    from glancekit.serve.app import create_app
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(cfg), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                              args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
        yield b
        b.close()


@pytest.fixture()
def page(browser, request):
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_draw_a_one_with_the_mouse(server, page, tmp_path):
    page.goto(server["url"] + "/draw")
    box = page.locator("#canvas").bounding_box()
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + 40)
    page.mouse.down()
    for i in range(1, 21):  # a vertical stroke, top to bottom
        page.mouse.move(x + i * 0.3, box["y"] + 40 + i * 10)
    page.mouse.up()
    # Save at once, while live predictions of the stroke are still in flight: the label the user picked
    # must not be overwritten by them, and their answers must not wipe the "saved" line (CI once lost it).
    page.select_option("#save-label", "1")
    page.click("#save")
    page.wait_for_selector("#status .ok", timeout=15000)
    page.wait_for_selector("#canvas[data-state=idle]", timeout=15000)
    assert page.locator("#status .ok").is_visible()
    assert page.locator("#save-label").input_value() == "1"
    assert page.locator("#prediction").text_content() == "1"
    assert page.locator("#top3 tr").count() == 3
    why = page.locator("#top3 .why").text_content()  # why it answered: the digit's certainty against the threshold
    assert "the certainty" in why and "over the threshold of" in why
    assert page.locator("#model-input").get_attribute("src").startswith("data:image/png")
    assert len(list((server["root"] / "drawings" / "1").glob("*.png"))) == 1
    page.screenshot(path=str(tmp_path / "draw.png"))
    page.click("#clear")
    assert page.locator("#prediction").text_content() == "–"


def test_upload_images(server, page, tmp_path):
    files = []
    for d in (4, 7):
        f = tmp_path / f"digit{d}.png"
        cv2.imwrite(str(f), render_digit(d, np.random.default_rng(d), size=64))
        files.append(f)
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"not an image at all")
    page.goto(server["url"] + "/upload")
    page.wait_for_function("document.querySelector('#task').value === 'digits'")
    assert "unavailable" not in page.locator("#task option[value=digits]").text_content()
    page.set_input_files("#files", [str(f) for f in files] + [str(bad)])
    page.wait_for_function("document.querySelectorAll('.result.done, .result.failed').length === 3", timeout=20000)
    got = {page.locator(f".result[data-file='{f.name}'] .big").text_content() for f in files}
    assert got == {"4", "7"}
    assert "not an image" in page.locator(".result[data-file='notes.png'] .muted").text_content()
    page.screenshot(path=str(tmp_path / "upload.png"))


def test_label_two_images_with_keys(server, page, tmp_path):
    labels = server["pool"] / "labels.csv"
    page.goto(server["url"] + "/label")
    page.wait_for_function("document.querySelector('#file').textContent === 'e0.png'", timeout=10000)
    page.keyboard.press("o")
    page.wait_for_function("document.querySelector('#file').textContent === 'e1.png'", timeout=10000)
    page.keyboard.press("c")
    page.wait_for_function("document.querySelector('#file').textContent === 'e2.png'", timeout=10000)
    page.screenshot(path=str(tmp_path / "label.png"))
    with open(labels, newline="") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    assert (rows["e0.png"]["label"], rows["e0.png"]["source"]) == ("open", "human")
    assert (rows["e1.png"]["label"], rows["e1.png"]["source"]) == ("closed", "human")
    assert rows["e2.png"]["source"] == "proposed"
    page.keyboard.press("u")  # undo the last decision: e1 is proposed again
    page.wait_for_function("document.querySelector('#file').textContent === 'e1.png'", timeout=10000)
    with open(labels, newline="") as f:
        assert {r["file"]: r for r in csv.DictReader(f)}["e1.png"]["source"] == "proposed"


def test_runs_page_lists_and_opens_a_run(server, page, tmp_path, tiny_run):
    page.goto(server["url"] + "/runs")
    row = page.locator(f"#runs-table tr[data-name='{tiny_run.name}']")
    row.wait_for(timeout=10000)
    assert "done" in row.text_content()
    row.click()
    page.wait_for_selector("#run-detail .pictures img", timeout=10000)
    assert page.locator("#run-detail .pictures img").count() >= 3
    assert page.locator("#charts canvas").count() == 2
    page.wait_for_function("Array.from(document.querySelectorAll('#run-detail img')).every(i => i.complete && i.naturalWidth > 0)",
                           timeout=10000)
    page.screenshot(path=str(tmp_path / "runs.png"), full_page=True)


def test_camera_page_streams_fake_camera_and_explains_missing_one(server, page, browser, tmp_path):
    page.goto(server["url"] + "/camera")
    page.wait_for_function("document.querySelector('#task').value !== ''")
    page.select_option("#task", "digits")
    page.click("#start")
    page.wait_for_function("parseFloat(document.querySelector('#fps').textContent) > 0", timeout=20000)
    assert page.locator("#latency").text_content() != "–"
    page.screenshot(path=str(tmp_path / "camera.png"))
    page.click("#stop")

    ctx = browser.new_context()  # a browser that gives the page no camera at all
    other = ctx.new_page()
    other.add_init_script("Object.defineProperty(navigator, 'mediaDevices', {value: undefined})")
    other.goto(server["url"] + "/camera")
    other.click("#start")
    other.wait_for_selector("#camera-error", state="visible", timeout=5000)
    assert "video file" in other.locator("#camera-error").text_content()
    other.screenshot(path=str(tmp_path / "camera-none.png"))
    ctx.close()


def test_upload_and_camera_find_every_hand_in_a_whole_photo(server, page, tmp_path):
    """Gestures on a whole photo: the page shows how many hands were found and draws each; the camera page
    runs the same pipeline on the fake camera's frames."""
    import re

    from .test_pipeline import scene_with_two_hands
    img, _ = scene_with_two_hands()
    photo = tmp_path / "room.jpg"
    cv2.imwrite(str(photo), img[..., ::-1])
    page.goto(server["url"] + "/upload?task=gestures")
    page.wait_for_function("document.querySelector('#task').value === 'gestures'")
    page.set_input_files("#files", [str(photo)])
    page.wait_for_function("document.querySelectorAll('.result.done, .result.failed').length === 1", timeout=30000)
    label = page.locator(".result[data-file='room.jpg'] .big").text_content()
    assert re.match(r"^\d+ hands?", label), label
    page.screenshot(path=str(tmp_path / "upload-hands.png"))
    page.goto(server["url"] + "/camera")
    page.wait_for_function("document.querySelector('#task').value !== ''")
    page.select_option("#task", "gestures")
    page.click("#start")
    page.wait_for_function("parseFloat(document.querySelector('#fps').textContent) > 0", timeout=30000)
    assert re.match(r"^\d+ hands?", page.locator("#prediction").text_content())
    page.click("#stop")


def test_label_clock_times_by_dragging_the_hands_or_typing(page, tmp_path):
    """The Label page for the clock: the proposal shows on a dial; a click far out sets the minute hand, one
    near the centre the hour hand, and "save time" stores it; typing h:mm and Enter stores the next one."""
    from glancekit.serve.app import ServeConfig
    pool = tmp_path / "pool"
    pool.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(pool / name), np.full((64, 64, 3), 200, np.uint8))
    labels = pool / "labels.csv"
    labels.write_text("file,label,source,confidence,cluster,review_rank\n"
                      "a.png,10:10,proposed,0.4,-1,0\nb.png,3:00,proposed,0.6,-1,1\n")
    with serving(ServeConfig(label_task="clock", label_pool=str(pool))) as url:
        page.goto(url + "/label")
        page.wait_for_function("document.querySelector('#file').textContent === 'a.png'", timeout=10000)
        assert page.input_value("#timetext") == "10:10"
        box = page.locator("#dial").bounding_box()
        cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"] / 2
        page.mouse.click(cx + 0.8 * r, cy)      # far out at 3 o'clock: the minute hand to :15
        page.mouse.click(cx, cy + 0.2 * r)      # near the centre at 6 o'clock: the hour hand to 6
        assert page.input_value("#timetext") == "6:15"
        page.click("#timesave")
        page.wait_for_function("document.querySelector('#file').textContent === 'b.png'", timeout=10000)
        page.fill("#timetext", "7:05")
        page.press("#timetext", "Enter")
        page.wait_for_function("document.querySelector('#file').textContent === 'all done'", timeout=10000)
        page.screenshot(path=str(tmp_path / "label-clock.png"))
    with open(labels, newline="") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    assert (rows["a.png"]["label"], rows["a.png"]["source"]) == ("6:15", "human")
    assert (rows["b.png"]["label"], rows["b.png"]["source"]) == ("7:05", "human")
