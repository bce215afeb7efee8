"""Predictor: image(s) in, typed predictions out — on onnxruntime when an up-to-date ONNX file sits
next to the weights (it is faster on CPU), else on torch.

An ONNX file is only trusted if its metadata names the sha256 of the very .pt it was exported from;
calibrated values (thresholds) always come from the .pt.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data.images import load_image
from ..errors import GlanceError
from ..tasks import Prediction, Task, get
from .checkpoint import build_from_checkpoint, file_sha256, load_checkpoint, resolve_weights
from .evaluate import torch_infer


def onnx_session(path: Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session, quiet; `threads` caps its intra-op threads (default: onnxruntime's own)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def onnx_source_sha(path: Path | Any) -> str | None:
    """The sha256 of the weights file an ONNX export was made from (its metadata), from the file or from an
    onnxruntime session already open on it (read through onnxruntime: no `onnx` import when predicting)."""
    sess = onnx_session(path) if isinstance(path, (str, Path)) else path
    return sess.get_modelmeta().custom_metadata_map.get("glancekit_source_sha256")


class Predictor:
    """`glancekit.load(task)` returns one of these. `.predict(x)` takes a path, a PIL image, a numpy
    array, or a list of them; a single input gives one Prediction, a list gives a list."""

    def __init__(self, task: str | Task, weights: str | Path | None = None, backend: str = "auto",
                 batch: int = 64) -> None:
        self.task = get(task) if isinstance(task, str) else task
        self.weights = resolve_weights(self.task, weights)
        self.ckpt = load_checkpoint(self.weights, self.task)
        self.meta: dict[str, Any] = self.ckpt["meta"]
        self.batch = batch
        self.backend = "torch"
        onnx_path = self.weights.with_suffix(".onnx")
        if backend in ("auto", "onnx") and onnx_path.is_file():
            sess = onnx_session(onnx_path)
            if onnx_source_sha(sess) == file_sha256(self.weights):
                name = sess.get_inputs()[0].name
                self._infer = lambda x: sess.run(None, {name: np.ascontiguousarray(x, np.float32)})[0]
                self.backend = "onnx"
        if self.backend != "onnx":
            if backend == "onnx":
                raise GlanceError(f"no up-to-date ONNX export next to {self.weights}; run "
                                  f"`glance export {self.task.name} --weights {self.weights}`")
            _, model = build_from_checkpoint(self.ckpt)
            self._infer = torch_infer(model, batch)

    def infer(self, x: np.ndarray) -> np.ndarray:
        """Raw model outputs for a batch of preprocessed arrays."""
        outs = [self._infer(x[i:i + self.batch]) for i in range(0, len(x), self.batch)]
        return np.concatenate(outs)

    def predict(self, inputs: Any) -> Prediction | list[Prediction]:
        single = not isinstance(inputs, (list, tuple))
        items: Sequence[Any] = [inputs] if single else inputs
        if not items:
            return []
        images = [load_image(i) for i in items]
        x = np.stack([self.task.preprocess(im) for im in images])
        preds = [self.task.finalize(p, im.shape) for p, im in zip(self.task.decode(self.infer(x), self.meta), images)]
        return preds[0] if single else preds

    def predict_files(self, files: Sequence[Path]) -> list[Prediction]:
        return predict_in_batches(self.predict, files, self.batch, "predicting")


def predict_in_batches(predict: Any, files: Sequence[Path], batch: int, what: str) -> list[Prediction]:
    """Predict many files a batch at a time with a progress bar (keeps memory flat for big folders)."""
    from ..progress import progress
    preds: list[Prediction] = []
    with progress() as bar:
        job = bar.add_task(what, total=len(files))
        for i in range(0, len(files), batch):
            chunk = list(files[i:i + batch])
            preds.extend(predict(chunk))
            bar.advance(job, len(chunk))
    return preds
