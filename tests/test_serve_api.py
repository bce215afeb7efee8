"""`glance serve` JSON API through FastAPI's TestClient: predictions, errors, drawings, labelling, runs."""
from __future__ import annotations

import csv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from glancekit.serve.app import ServeConfig, create_app

from .conftest import render_digit


def png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def digit_png(d: int, seed: int = 0) -> bytes:
    return png(render_digit(d, np.random.default_rng(seed), size=64))


def make_pool(root: Path, n: int = 4) -> Path:
    """A pool of toy eye crops with a labels file of proposals, as `glance label` writes it."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        img = np.full((24, 24), 180, np.uint8)
        cv2.circle(img, (12, 12), 5, 30, -1)
        cv2.imwrite(str(root / f"e{i}.png"), img)
        rows.append({"file": f"e{i}.png", "label": "open" if i % 2 else "closed", "source": "proposed",
                     "confidence": "0.6", "cluster": "0", "review_rank": str(i)})
    with open(root / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


def read_rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {r["file"]: r for r in csv.DictReader(f)}


@pytest.fixture()
def client(tmp_path, tiny_run) -> TestClient:
    cfg = ServeConfig(project=str(tiny_run.parent.parent), drawings=str(tmp_path / "drawings"),
                      label_task="eyes", label_pool=str(make_pool(tmp_path / "pool")), max_upload=200_000,
                      weights={"clock": str(tmp_path / "missing.pt")})
    return TestClient(create_app(cfg))


def test_tasks_and_pages(client):
    tasks = {t["name"]: t for t in client.get("/api/tasks").json()}
    assert {"digits", "eyes", "clock"} <= set(tasks)
    assert tasks["digits"]["available"] and tasks["digits"]["labels"][:3] == ["0", "1", "2"]
    for page in ("draw", "camera", "upload", "label", "runs"):
        r = client.get(f"/{page}")
        assert r.status_code == 200 and "/static/common.js" in r.text
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/openapi.json").json()["paths"]["/api/predict/{task}"]
    assert client.get("/", follow_redirects=False).status_code in (302, 307)


def test_predict_digit_returns_label_top3_and_model_input(client):
    r = client.post("/api/predict/digits", files={"image": ("seven.png", digit_png(7), "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["prediction"]["label"] == "7"
    assert len(body["prediction"]["top"]) == 3 and body["prediction"]["top"][0][0] == "7"
    assert body["model_input"].startswith("data:image/png;base64,")
    assert body["image_size"] == [64, 64] and body["latency_ms"] > 0


def test_bad_requests_get_clear_4xx(client):
    r = client.post("/api/predict/nope", files={"image": ("a.png", digit_png(1), "image/png")})
    assert r.status_code == 404 and "unknown task 'nope'" in r.json()["detail"]
    r = client.post("/api/predict/digits", files={"image": ("notes.txt", b"hello, not an image", "text/plain")})
    assert r.status_code == 400 and "not an image" in r.json()["detail"]
    r = client.post("/api/predict/digits", files={"image": ("empty.png", b"", "image/png")})
    assert r.status_code == 400 and "empty" in r.json()["detail"]
    big = png(np.random.default_rng(0).integers(0, 255, (400, 400, 3), dtype=np.uint8))  # > 200 kB limit
    r = client.post("/api/predict/digits", files={"image": ("big.png", big, "image/png")})
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    r = client.post("/api/predict/clock", files={"image": ("c.png", digit_png(1), "image/png")})
    assert r.status_code == 503 and "not available" in r.json()["detail"]
    assert client.post("/api/predict/digits").status_code == 422  # no image field at all


def test_concurrent_requests_do_not_mix_results(client):
    """30 different images at once from 8 threads: every reply equals that image's answer alone."""
    images = {i: digit_png(i % 10, seed=i) for i in range(30)}

    def ask(i: int) -> tuple[str, float]:
        r = client.post("/api/predict/digits", files={"image": (f"{i}.png", images[i], "image/png")})
        p = r.json()["prediction"]
        return p["label"], round(p["confidence"], 5)
    alone = [ask(i) for i in images]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(ask, list(images)))
    assert together == alone
    assert len(set(alone)) > 10  # the images really differ


def test_draw_save_never_overwrites(client, tmp_path):
    paths = []
    for _ in range(2):
        r = client.post("/api/draw/save", files={"image": ("d.png", digit_png(3), "image/png")}, data={"label": "3"})
        assert r.status_code == 200, r.text
        paths.append(Path(r.json()["saved"]))
    assert paths[0] != paths[1] and all(p.is_file() and p.parent == tmp_path / "drawings" / "3" for p in paths)
    r = client.post("/api/draw/save", files={"image": ("d.png", digit_png(3), "image/png")}, data={"label": "x"})
    assert r.status_code == 400


def test_label_decide_skip_undo_saves_every_step(client, tmp_path):
    labels = tmp_path / "pool" / "labels.csv"
    s = client.get("/api/label/state").json()
    assert s["total"] == 4 and s["current"]["file"] == "e0.png" and s["keys"] == {"c": "closed", "o": "open"}
    assert client.get("/api/label/image/e0.png").status_code == 200
    assert client.get("/api/label/image/..%2Flabels.csv").status_code == 404

    s = client.post("/api/label/decide", json={"file": "e0.png", "label": "open"}).json()
    assert read_rows(labels)["e0.png"]["label"] == "open" and read_rows(labels)["e0.png"]["source"] == "human"
    assert s["current"]["file"] == "e1.png"
    r = client.post("/api/label/decide", json={"file": "e0.png", "label": "open"})  # stale page
    assert r.status_code == 400 and "not the image under review" in r.json()["detail"]
    client.post("/api/label/decide", json={"file": "e1.png", "label": None})  # accept the proposal
    assert read_rows(labels)["e1.png"]["source"] == "human" and read_rows(labels)["e1.png"]["label"] == "open"
    s = client.post("/api/label/undo").json()
    assert s["current"]["file"] == "e1.png" and read_rows(labels)["e1.png"]["source"] == "proposed"
    s = client.post("/api/label/skip", json={"file": "e1.png"}).json()
    assert s["current"]["file"] == "e2.png" and s["decisions"] == 1
    r = client.post("/api/label/decide", json={"file": "e2.png", "label": "sleepy"})
    assert r.status_code == 400 and "not a label" in r.json()["detail"]


def test_label_without_setup_says_how(tmp_path):
    c = TestClient(create_app(ServeConfig(project=str(tmp_path))))
    r = c.get("/api/label/state")
    assert r.status_code == 409 and "glance serve --label" in r.json()["detail"]


def test_runs_table_detail_and_files(client, tiny_run):
    runs = client.get("/api/runs", params={"task": "digits"}).json()
    row = next(r for r in runs if r["name"] == tiny_run.name)
    assert row["status"] == "done" and row["select_metric"] == "val_accuracy" and 0 <= row["best"] <= 1
    assert client.get("/api/runs", params={"tag": "no-such-tag"}).json() == []
    d = client.get(f"/api/runs/digits/{tiny_run.name}").json()
    assert d["config"]["epochs"] == 10 and len(d["metrics"]) >= 1 and "confusion.png" in d["pictures"]
    r = client.get(f"/api/runs/digits/{tiny_run.name}/file/confusion.png")
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"
    assert client.get(f"/api/runs/digits/{tiny_run.name}/file/..%2F..%2Frun.json").status_code == 404
    assert client.get("/api/runs/digits/nope").status_code == 404
