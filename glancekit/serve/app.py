"""`glance serve`: one local FastAPI app — Draw, Live camera, Upload, Label and Runs pages over a JSON API.

Pages are plain HTML + JS shipped in `static/` (no build step, no CDN: it works offline). Every page
talks to the API below, which apps can call directly (OpenAPI docs at /docs):

    GET  /api/tasks                      tasks, whether weights ship for them, their labels
    POST /api/predict/{task}             multipart `image` → prediction + the model's input as PNG; for
                                         gestures / hand_keypoints every hand of a whole photo (?crop=true: one crop)
    POST /api/draw/save                  multipart `image` + `label` → saved into the drawings folder
    GET  /api/label/state                the review queue's current image, proposal, progress
    GET  /api/label/image/{file}         an image of the pool
    POST /api/label/decide|skip|undo     one decision, saved to the labels file before the reply
    GET  /api/runs                       the experiment table (`glance runs`)
    GET  /api/runs/{task}/{name}         one run: config, run.json, metrics per epoch, pictures
    GET  /api/runs/{task}/{name}/file/{f} a picture or report of that run

Requests are independent (no shared mutable state besides the cached predictors, which are read-only,
and the label session, which locks), so several tabs never mix results.
"""
from __future__ import annotations

import base64
import csv
import io
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from ..errors import GlanceError
from ..tasks import get, names

STATIC = Path(__file__).resolve().parent / "static"
MAX_UPLOAD = 10 * 1024 * 1024  # bytes
PAGES = ("draw", "camera", "upload", "label", "runs")


@dataclass
class ServeConfig:
    project: str = "runs"                 # where runs are listed from
    drawings: str = "drawings"            # where the Draw page saves labelled drawings
    label_task: str | None = None         # the Label page reviews this task's proposals …
    label_pool: str | None = None         # … for the images in this folder …
    labels: str | None = None             # … stored in this labels file (default POOL/labels.csv)
    max_upload: int = MAX_UPLOAD
    weights: dict[str, str] = field(default_factory=dict)  # task → weights file (default: shipped)


def _image_from_bytes(data: bytes, name: str) -> np.ndarray:
    if not data:
        raise HTTPException(400, f"{name}: empty upload")
    from PIL import Image, UnidentifiedImageError

    from ..data.images import load_image
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return load_image(im.copy())
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise HTTPException(400, f"{name}: not an image or corrupt") from None


def _png_data_url(img: np.ndarray) -> str:
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        arr = np.clip(arr * 255, 0, 255).astype(np.uint8)
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", arr)
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode()


def _safe_name(text: str) -> bool:
    return bool(text) and "/" not in text and "\\" not in text and not text.startswith(".")


def create_app(cfg: ServeConfig | None = None) -> FastAPI:
    cfg = cfg or ServeConfig()
    app = FastAPI(title="glancekit", description="Compact vision models: predict, label, inspect runs.")
    predictors: dict[str, Any] = {}
    predictors_lock = threading.Lock()
    label_state: dict[str, Any] = {"session": None}

    def predictor(task: str, whole: bool = False) -> Any:
        """The cached Predictor of a task, or with `whole` its Pipeline (find each hand, then read it)."""
        if task not in names():
            raise HTTPException(404, f"unknown task '{task}'; known tasks: {', '.join(names())}")
        key = f"{task}:whole" if whole else task
        with predictors_lock:
            if key not in predictors:
                from ..engine.pipeline import Pipeline
                from ..engine.predict import Predictor
                try:
                    detector = get(task).detector or ""
                    predictors[key] = (Pipeline(task, cfg.weights.get(task), detector_weights=cfg.weights.get(detector))
                                       if whole
                                       else Predictor(task, cfg.weights.get(task)))
                except GlanceError as e:
                    raise HTTPException(503, f"task {task} is not available yet: {e}") from None
            return predictors[key]

    def available(task: str) -> bool:
        from ..engine.checkpoint import shipped_weights
        return bool(cfg.weights.get(task)) or shipped_weights(task).is_file()

    async def read_upload(upload: UploadFile) -> bytes:
        data = await upload.read(cfg.max_upload + 1)
        if len(data) > cfg.max_upload:
            raise HTTPException(413, f"{upload.filename}: larger than the {cfg.max_upload // (1024 * 1024)} MB limit")
        return data

    @app.exception_handler(GlanceError)
    async def glance_error(_: Request, exc: GlanceError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    # ---- pages -----------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/upload")

    for page in PAGES:
        def serve_page(page: str = page) -> HTMLResponse:
            return HTMLResponse((STATIC / f"{page}.html").read_text(encoding="utf-8"))
        app.add_api_route(f"/{page}", serve_page, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # ---- predict ---------------------------------------------------------------------------------
    @app.get("/api/tasks")
    def tasks() -> list[dict[str, Any]]:
        out = []
        for n in names():
            t = get(n)
            out.append({"name": n, "available": available(n), "labels": list(t.labels),
                        "input": [t.channels, *t.input_size]})
        return out

    @app.post("/api/predict/{task}")
    async def predict(task: str, image: UploadFile = File(...), crop: bool = False) -> dict[str, Any]:
        """One image's prediction. Tasks that read a hand take whole photos: every hand found, each with its box,
        answer and keypoints (`prediction.hands`); `?crop=true` reads the image as one hand's crop instead."""
        from starlette.concurrency import run_in_threadpool
        whole = task in names() and bool(get(task).detector) and not crop
        p = predictor(task, whole)
        img = _image_from_bytes(await read_upload(image), image.filename or "upload")
        t0 = time.perf_counter()
        if whole:
            frame = await run_in_threadpool(p.predict, img)
            return {"task": task, "file": image.filename, "prediction": frame.to_dict(), "objects_key": p.objects_key,
                    "latency_ms": round((time.perf_counter() - t0) * 1000, 2), "backend": p.backend,
                    "image_size": [int(img.shape[1]), int(img.shape[0])], "model_input": None}
        x = p.task.preprocess(img)
        out = await run_in_threadpool(p.infer, x[None])
        pred = p.task.finalize(p.task.decode(out, p.meta)[0], img.shape)
        from ..tasks.base import display_image
        return {"task": task, "file": image.filename, "prediction": pred.to_dict(),
                "latency_ms": round((time.perf_counter() - t0) * 1000, 2), "backend": p.backend,
                "image_size": [int(img.shape[1]), int(img.shape[0])], "model_input": _png_data_url(display_image(x))}

    @app.post("/api/draw/save")
    async def save_drawing(image: UploadFile = File(...), label: str = Form(...)) -> dict[str, Any]:
        digits = get("digits")
        if label not in digits.labels:
            raise HTTPException(400, f"label must be one of {', '.join(digits.labels)}, got '{label}'")
        img = _image_from_bytes(await read_upload(image), image.filename or "drawing")
        folder = Path(cfg.drawings) / label
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = folder / f"{stamp}.png"
        i = 1
        while path.exists():  # never overwrite an earlier drawing
            path = folder / f"{stamp}-{i}.png"
            i += 1
        ok, buf = cv2.imencode(".png", img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        from ..runs.store import atomic_write_bytes
        atomic_write_bytes(path, buf.tobytes())
        return {"saved": str(path), "label": label}

    # ---- label -----------------------------------------------------------------------------------
    def session() -> Any:
        if not (cfg.label_task and cfg.label_pool):
            raise HTTPException(409, "no labelling set up: start `glance serve --label TASK --pool DIR` "
                                     "after `glance label TASK --pool DIR`")
        if label_state["session"] is None:
            from ..label.session import LabelSession
            labels = Path(cfg.labels) if cfg.labels else Path(cfg.label_pool) / "labels.csv"
            try:
                label_state["session"] = LabelSession(get(cfg.label_task), labels, Path(cfg.label_pool))
            except GlanceError as e:
                raise HTTPException(409, str(e)) from None
        return label_state["session"]

    def label_view() -> dict[str, Any]:
        s = session()
        from ..label.review import class_keys
        row = s.current
        return {"task": s.task.name, "labels_file": str(s.labels_path), "keys": class_keys(s.task),
                "entry": "keys" if s.task.labels else "time",  # a clock: set the hands on a dial or type h:mm
                "position": s.position, "total": len(s.queue), "decisions": s.decisions, "done": s.done,
                "current": None if row is None else {"file": row.file, "proposal": row.label,
                                                     "confidence": row.confidence, "cluster": row.cluster}}

    @app.get("/api/label/state")
    def label_state_view() -> dict[str, Any]:
        return label_view()

    @app.get("/api/label/image/{file}")
    def label_image(file: str) -> FileResponse:
        s = session()
        if not _safe_name(file) or file not in s.rows:
            raise HTTPException(404, f"no image '{file}' in the labelling pool")
        return FileResponse(s.pool / file)

    @app.post("/api/label/decide")
    def label_decide(body: dict[str, Any]) -> dict[str, Any]:
        session().decide(body.get("label") or None, body.get("file"))
        return label_view()

    @app.post("/api/label/skip")
    def label_skip(body: dict[str, Any]) -> dict[str, Any]:
        session().skip(body.get("file"))
        return label_view()

    @app.post("/api/label/undo")
    def label_undo() -> dict[str, Any]:
        session().undo()
        return label_view()

    # ---- runs ------------------------------------------------------------------------------------
    @app.get("/api/runs")
    def runs(task: str | None = None, tag: str | None = None) -> list[dict[str, Any]]:
        from ..runs.store import list_runs
        return [{"task": r.task, "name": r.name, "status": r.status, "tags": r.tags, "select_metric": r.metric,
                 "best": r.best, "started": r.started, "duration_s": r.duration_s}
                for r in list_runs(cfg.project, task, tag)]

    def run_dir(task: str, name: str) -> Path:
        if not (_safe_name(task) and _safe_name(name)):
            raise HTTPException(404, "no such run")
        d = Path(cfg.project) / task / name
        if not (d / "run.json").is_file():
            raise HTTPException(404, f"no run {task}/{name} under {cfg.project}")
        return d

    @app.get("/api/runs/{task}/{name}")
    def run_detail(task: str, name: str) -> dict[str, Any]:
        import json
        d = run_dir(task, name)
        metrics: list[dict[str, str]] = []
        if (d / "metrics.csv").is_file():
            with open(d / "metrics.csv", newline="") as f:
                metrics = list(csv.DictReader(f))
        config = yaml.safe_load((d / "config.yaml").read_text()) if (d / "config.yaml").is_file() else {}
        return {"run": json.loads((d / "run.json").read_text()), "config": config, "metrics": metrics,
                "pictures": sorted(p.name for p in d.glob("*.png")),
                "report": (d / "report.html").is_file()}

    @app.get("/api/runs/{task}/{name}/file/{file}")
    def run_file(task: str, name: str, file: str) -> FileResponse:
        d = run_dir(task, name)
        if not _safe_name(file) or Path(file).suffix not in (".png", ".html", ".json", ".csv", ".yaml"):
            raise HTTPException(404, "no such file")
        path = d / file
        if not path.is_file():
            raise HTTPException(404, f"no {file} in run {task}/{name}")
        return FileResponse(path)

    return app


def _check_port(host: str, port: int) -> None:
    """A port another program holds is one clear line, before the app starts (uvicorn would print its
    own error after our banner and exit with 3)."""
    import socket
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise GlanceError(f"cannot listen on {host}:{port}: {e.strerror or e} (pick another --port)") from None


def serve(host: str = "127.0.0.1", port: int = 8000, cfg: ServeConfig | None = None) -> None:
    import uvicorn
    _check_port(host, port)
    app = create_app(cfg)
    print(f"glance serve: http://{host}:{port}/  (pages: {', '.join(PAGES)}; API docs: /docs)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
