"""Pictures of a run (curves, confusion, distributions, sample grids, ROC) and one self-contained
report.html that embeds them, so a report can be mailed or opened offline with nothing beside it."""
from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig: Any, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return out


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def plot_curves(history: list[dict[str, float]], out: str | Path) -> Path:
    """Losses (train vs val), the other validation metrics, and the learning rate, per epoch."""
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    metric_keys = sorted({k for h in history for k in h if k.startswith("val_") and k != "val_loss"})
    has_lr = any(_finite(h.get("lr")) for h in history)
    n = 2 + has_lr
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 3.6))

    def series(ax: Any, key: str) -> None:
        pts = [(e, h[key]) for e, h in zip(epochs, history) if _finite(h.get(key))]
        if pts:
            ax.plot(*zip(*pts), marker=".", label=key)

    for key in ("train_loss", "val_loss"):
        series(axes[0], key)
    axes[0].set_title("loss")
    for key in metric_keys:
        series(axes[1], key)
    axes[1].set_title("validation metrics")
    if has_lr:
        series(axes[2], "lr")
        axes[2].set_title("learning rate")
        axes[2].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    return _save(fig, out)


def plot_confusion(cm: np.ndarray, labels: list[str], out: str | Path, normalize: bool = True) -> Path:
    """Counts in every cell; colour by row share so small classes are as readable as big ones."""
    cm = np.asarray(cm)
    rows = cm.sum(1, keepdims=True)
    shade = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0) if normalize else cm
    k = len(labels)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * k, 0.8 + 0.5 * k))
    ax.imshow(shade, cmap="Blues", vmin=0)
    for i in range(k):
        for j in range(k):
            if cm[i, j]:
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=8,
                        color="white" if shade[i, j] > 0.5 * shade.max() else "black")
    ax.set_xticks(range(k), labels, rotation=45, ha="right")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix")
    return _save(fig, out)


def plot_label_distribution(counts: dict[str, dict[str, int]], out: str | Path) -> Path:
    labels = sorted({lab for c in counts.values() for lab in c}, key=lambda s: (len(s), s))
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(labels) + 2), 3.2))
    width = 0.8 / max(1, len(counts))
    x = np.arange(len(labels))
    for i, (split, c) in enumerate(counts.items()):
        ax.bar(x + i * width, [c.get(lab, 0) for lab in labels], width, label=f"{split} ({sum(c.values())})")
    ax.set_xticks(x + width * (len(counts) - 1) / 2, labels, rotation=45 if len(labels) > 10 else 0)
    ax.set_ylabel("images")
    ax.set_title("label distribution")
    ax.legend(fontsize=8)
    return _save(fig, out)


def plot_prf_table(prf: dict, labels: list[str], out: str | Path) -> Path:
    rows = [[lab, f"{prf['precision'][i]:.3f}", f"{prf['recall'][i]:.3f}", f"{prf['f1'][i]:.3f}",
             str(int(prf["support"][i]))] for i, lab in enumerate(labels)]
    fig, ax = plt.subplots(figsize=(5.5, 0.3 * len(rows) + 0.6))
    ax.axis("off")
    table = ax.table(cellText=rows, colLabels=["class", "precision", "recall", "F1", "support"], loc="center")
    table.scale(1, 1.2)
    return _save(fig, out)


def image_grid(images: list[np.ndarray], titles: list[str], out: str | Path, ncols: int = 8,
               colors: list[str] | None = None, scale: float = 1.5) -> Path:
    """Images with small titles (coloured e.g. green right / red wrong)."""
    if not images:
        fig, ax = plt.subplots(figsize=(3, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "no samples", ha="center", va="center")
        return _save(fig, out)
    ncols = max(1, min(ncols, len(images)))
    nrows = math.ceil(len(images) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(scale * ncols, (scale + 0.25) * nrows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i >= len(images):
            continue
        img = np.asarray(images[i])
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255 if img.dtype == np.uint8 else 1)
        ax.set_title(titles[i] if i < len(titles) else "", fontsize=6.5,
                     color=colors[i] if colors and i < len(colors) else "black")
    return _save(fig, out)


def plot_roc(fpr: np.ndarray, tpr: np.ndarray, out: str | Path, eer: float | None = None) -> Path:
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(fpr, tpr, label="ROC")
    ax.plot([0, 1], [0, 1], "--", color="gray", lw=0.8)
    if eer is not None:
        ax.plot([eer], [1 - eer], "o", color="red", label=f"EER {eer:.3f}")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, out)


def plot_score_histogram(scores: np.ndarray, y_true: np.ndarray, out: str | Path,
                         threshold: float | None = None) -> Path:
    scores, y_true = np.asarray(scores), np.asarray(y_true)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    bins = np.linspace(float(scores.min()), float(scores.max()) + 1e-9, 40)
    for cls in (0, 1):
        ax.hist(scores[y_true == cls], bins=bins, alpha=0.55, label=f"class {cls}")
    if threshold is not None:
        ax.axvline(threshold, color="red", ls="--", label=f"threshold {threshold:.3f}")
    ax.set_xlabel("score")
    ax.legend()
    return _save(fig, out)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def html_table(rows: list[dict], columns: list[str] | None = None) -> str:
    cols = columns or list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c, '')))}</td>" for c in cols) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:left}th{background:#f4f4f4}img{max-width:100%;margin:.4em 0;display:block}"""


def write_report(out_html: str | Path, title: str, sections: Sequence[tuple[str, list]]) -> Path:
    """One HTML file; PNGs embedded as base64, dicts as key/value tables, strings as HTML."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    for heading, items in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        for item in items:
            if isinstance(item, Path):
                if item.is_file():
                    data = base64.b64encode(item.read_bytes()).decode()
                    parts.append(f"<img alt='{html.escape(item.name)}' src='data:image/png;base64,{data}'>")
            elif isinstance(item, dict):
                parts.append(html_table([{"name": k, "value": v} for k, v in item.items()]))
            else:
                parts.append(str(item))
    parts.append("</body></html>")
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    from .store import atomic_write_text
    atomic_write_text(out, "\n".join(parts))
    return out
