"""Commands run end to end through the `glance` CLI, as a user types them, checking what they write."""
from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from glancekit.cli import main
from .conftest import render_digit


def glance(*args: object, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "glancekit.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=240, **kw)


@pytest.fixture()
def digit_pool(tmp_path: Path) -> Path:
    pool = tmp_path / "pool"
    pool.mkdir()
    rng = np.random.default_rng(5)
    for i in range(8):
        cv2.imwrite(str(pool / f"p{i}.png"), render_digit(i % 4, rng))
    return pool


def test_pack_then_val_reads_the_shards(tmp_path: Path, tiny_run: Path, capsys):
    """Packed shards read as the images they came from: images already at the model's size (28 px, as
    MNIST) are stored as they are, so validation on the shards equals validation on the files."""
    digit_folder = tmp_path / "digits28"
    rng = np.random.default_rng(3)
    for d in range(10):
        (digit_folder / str(d)).mkdir(parents=True)
        for i in range(24):
            cv2.imwrite(str(digit_folder / str(d) / f"{i}.png"), render_digit(d, rng, size=28))
    out = tmp_path / "packed"
    assert main(["pack", "digits", "--data", str(digit_folder), "--out", str(out), "--no-measure",
                 "--shard-size", "100", "--workers", "1"]) == 0
    assert "packed 240 digits images" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["task"] == "digits" and sum(s["count"] for s in manifest["shards"]) == 240
    assert len(manifest["shards"]) == 3
    assert main(["val", "digits", "--data", str(out), "--weights", str(tiny_run / "weights" / "best.pt"),
                 "--project", str(tmp_path / "runs"), "--name", "p"]) == 0
    runs = tmp_path / "runs" / "digits"
    packed = json.loads((runs / "p" / "run.json").read_text())
    assert main(["val", "digits", "--data", str(digit_folder), "--weights", str(tiny_run / "weights" / "best.pt"),
                 "--project", str(tmp_path / "runs"), "--name", "raw"]) == 0
    raw = json.loads((runs / "raw" / "run.json").read_text())
    assert packed["images"] == raw["images"] == 240
    assert json.loads((runs / "p" / "val_metrics.json").read_text()) == \
        pytest.approx(json.loads((runs / "raw" / "val_metrics.json").read_text()))
    # packing again into the same folder would mix two sets: refused, the first pack untouched
    assert main(["pack", "digits", "--data", str(digit_folder), "--out", str(out), "--no-measure"]) == 2
    assert "already holds a packed data set" in capsys.readouterr().err
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_label_then_review_in_the_terminal(digit_pool: Path, tiny_run: Path):
    weights = tiny_run / "weights" / "best.pt"
    r = glance("label", "digits", "--pool", digit_pool, "--weights", weights)
    assert r.returncode == 0 and r.stdout.startswith(f"wrote {digit_pool / 'labels.csv'}")
    rows = list(csv.DictReader(open(digit_pool / "labels.csv")))
    assert sorted(r["file"] for r in rows) == [f"p{i}.png" for i in range(8)]
    assert {r["source"] for r in rows} == {"proposed"} and all(r["label"] in "0123456789" for r in rows)
    first = min(rows, key=lambda r: int(r["review_rank"]))["file"]  # what review shows first
    # a person: 7 for the first image, skip the second, quit
    r = glance("review", "digits", "--pool", digit_pool, input="7\ns\nq\n")
    assert r.returncode == 0 and f"1 decisions saved to {digit_pool / 'labels.csv'}" in r.stdout
    after = {r["file"]: r for r in csv.DictReader(open(digit_pool / "labels.csv"))}
    assert after[first]["label"] == "7" and after[first]["source"] == "human"
    assert [f for f, r in after.items() if r["source"] == "human"] == [first]
    # proposing again never changes a person's decision
    assert glance("label", "digits", "--pool", digit_pool, "--weights", weights).returncode == 0
    again = {r["file"]: r for r in csv.DictReader(open(digit_pool / "labels.csv"))}
    assert again[first]["label"] == "7" and again[first]["source"] == "human"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post_image(url: str, png: bytes) -> tuple[int, dict]:
    boundary = "glanceboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"d.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + png + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(url, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_serve_answers_on_loopback_and_stops(tmp_path: Path):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "glancekit.cli", "serve", "--port", str(port),
                             "--project", str(tmp_path / "runs"), "--drawings", str(tmp_path / "drawings")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                with urllib.request.urlopen(base + "/api/tasks", timeout=2) as resp:
                    tasks = {t["name"]: t for t in json.loads(resp.read())}
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.25)
        else:
            pytest.fail("glance serve did not answer within 30 s")
        assert tasks["digits"]["available"] and tasks["digits"]["labels"] == [str(d) for d in range(10)]
        png = cv2.imencode(".png", render_digit(3, np.random.default_rng(0), size=64))[1].tobytes()
        status, answer = _post_image(base + "/api/predict/digits", png)
        assert status == 200 and answer["prediction"]["label"] == "3"
        status, _ = _post_image(base + "/api/predict/fruit", png)
        assert status == 404
        status, answer = _post_image(base + "/api/predict/digits", b"not an image")
        assert status == 400
        with urllib.request.urlopen(base + "/draw", timeout=5) as resp:
            assert resp.status == 200 and "<canvas" in resp.read().decode()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert f"glance serve: http://127.0.0.1:{port}/" in out and "Traceback" not in err


def test_serve_on_a_busy_port_is_one_line(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"glance: error: cannot listen on 127.0.0.1:{port}: Address already in use (pick another --port)"]
