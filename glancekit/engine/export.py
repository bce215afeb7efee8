"""Export weights to ONNX or TorchScript, then prove the export computes what torch computes.

The check runs both on the same inputs (random, blank, and batch sizes 1 and 7) and fails when the
largest absolute difference exceeds `atol`; a silently wrong export is worse than none.
"""
from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import GlanceError
from ..tasks import Task
from .checkpoint import build_from_checkpoint, file_sha256, load_checkpoint, resolve_weights


def sample_inputs(task: Task, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (task.channels, *task.input_size)
    return [rng.random((1, *shape), dtype=np.float32), np.zeros((1, *shape), np.float32),
            rng.random((7, *shape), dtype=np.float32)]


def _onnx(model: nn.Module, task: Task, out: Path, source_sha: str) -> None:
    import onnx
    dummy = torch.zeros(2, task.channels, *task.input_size)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (dummy,), str(out), input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=17,
                          dynamo=False)
    m = onnx.load(str(out))
    for key, value in {"glancekit_task": task.name, "glancekit_source_sha256": source_sha,
                       "glancekit_labels": ",".join(task.labels)}.items():
        prop = m.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.save(m, str(out))


def _run_onnx(path: Path, threads: int | None = None) -> "callable":
    """The export at `path` as a numpy-in, numpy-out function on onnxruntime (`threads` as `onnx_session`)."""
    from .predict import onnx_session
    sess = onnx_session(path, threads)
    return lambda x: sess.run(None, {"input": x})[0]


def _run_torchscript(path: Path) -> "callable":
    mod = torch.jit.load(str(path), map_location="cpu")
    mod.eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return mod(torch.from_numpy(x)).numpy()
    return run


def export(task: Task, weights: str | Path | None, fmt: str = "onnx", out: str | Path | None = None,
           atol: float = 1e-4) -> tuple[Path, float]:
    """Write the export and return (path, max abs difference from torch)."""
    wpath = resolve_weights(task, weights)
    _, model = build_from_checkpoint(load_checkpoint(wpath, task))
    if fmt not in ("onnx", "torchscript"):
        raise GlanceError(f"unknown export format '{fmt}': use onnx or torchscript")
    target = Path(out) if out else wpath.with_suffix(".onnx" if fmt == "onnx" else ".torchscript.pt")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        if fmt == "onnx":
            _onnx(model, task, tmp, file_sha256(wpath))
            run = _run_onnx(tmp)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scripted = torch.jit.trace(model, torch.zeros(1, task.channels, *task.input_size))
            scripted.save(str(tmp))
            run = _run_torchscript(tmp)
        diff = 0.0
        with torch.inference_mode():
            for x in sample_inputs(task):
                ref = model(torch.from_numpy(x)).numpy()
                try:
                    got = run(x)
                except Exception as e:  # noqa: BLE001 - e.g. a shape the export baked in
                    msg = str(e).strip().splitlines()[-1] if str(e).strip() else e.__class__.__name__
                    raise GlanceError(f"exported {fmt} model fails on a batch of {len(x)}: {msg}") from None
                diff = max(diff, float(np.abs(got - ref).max()))
        if not diff <= atol:
            raise GlanceError(f"exported {fmt} model disagrees with torch: max abs diff {diff:.2e} > {atol:g}")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target, diff
