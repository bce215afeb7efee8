"""Pictures of a run (curves, confusion, distributions, sample grids, ROC) and one self-contained
report.html that embeds them, so a report can be mailed or opened offline with nothing beside it.

Every plot function writes one PNG at `out` (parent folders are made) and returns its Path; figures
are closed after saving so long evaluations do not pile up matplotlib state.
"""
from __future__ import annotations

import base64
import html
import math
import numbers
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")  # no display on servers / in tests; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .store import atomic_write_text  # noqa: E402

_DPI = 90


def _save(fig: Any, out: str | Path) -> Path:
    """Save, close (so figures never accumulate) and return the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=_DPI, bbox_inches="tight", format="png")
    plt.close(fig)
    return out


def _finite(v: Any) -> bool:
    """A real, finite number (numpy scalars included); NaN, None, bools and strings count as missing."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))


def _note(ax: Any, text: str) -> None:
    """Say why an axis is empty instead of leaving a blank box."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="gray")


def plot_curves(history: list[dict[str, float]], out: str | Path) -> Path:
    """Losses (train vs val), the other validation metrics, and the learning rate, per epoch,
    so over-fitting and schedule effects can be seen at a glance. NaN / absent values are skipped."""
    epochs = [h["epoch"] if _finite(h.get("epoch")) else i + 1 for i, h in enumerate(history)]
    metric_keys = sorted({k for h in history for k in h
                          if k.startswith("val_") and k != "val_loss" and _finite(h.get(k))})
    has_lr = any(_finite(h.get("lr")) for h in history)
    n = 2 + int(has_lr)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 3.4), squeeze=False)
    axes = axes[0]

    def series(ax: Any, key: str) -> bool:
        pts = [(float(e), float(h[key])) for e, h in zip(epochs, history) if _finite(h.get(key))]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker=".", label=key)
        return bool(pts)

    if not any([series(axes[0], k) for k in ("train_loss", "val_loss")]):
        _note(axes[0], "no losses")
    axes[0].set_title("loss")
    if not any([series(axes[1], k) for k in metric_keys]):
        _note(axes[1], "no validation metrics")
    axes[1].set_title("validation metrics")
    if has_lr:
        series(axes[2], "lr")
        axes[2].set_title("learning rate")
        lrs = [float(h["lr"]) for h in history if _finite(h.get("lr"))]
        if min(lrs) > 0 and max(lrs) / min(lrs) > 10:
            axes[2].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, out)


def plot_confusion(cm: np.ndarray, labels: list[str], out: str | Path, normalize: bool = True) -> Path:
    """Counts in every cell, true rows vs predicted columns; with `normalize` the colour is the row
    share, so a small class's errors are as visible as a big one's."""
    cm = np.asarray(cm, dtype=float)
    k = cm.shape[0]
    names = [str(labels[i]) if i < len(labels) else str(i) for i in range(k)]
    rows = cm.sum(1, keepdims=True)
    if normalize:
        shade = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0)
        vmax = 1.0
    else:
        shade = cm
        vmax = max(float(cm.max()) if cm.size else 1.0, 1.0)
    side = 1.2 + 0.55 * max(k, 2)
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    im = ax.imshow(shade, cmap="Blues", vmin=0, vmax=vmax)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04,
                 label="share of true class" if normalize else "count")
    fs = 9 if k <= 6 else 8 if k <= 10 else 7
    for i in range(k):
        for j in range(k):
            v = cm[i, j]
            ax.text(j, i, f"{int(v)}" if float(v).is_integer() else f"{v:.3g}", ha="center", va="center",
                    fontsize=fs, color="white" if shade[i, j] > 0.55 * vmax else ("#999" if v == 0 else "black"))
    ax.set_xticks(range(k), names, rotation=45 if k > 4 or max(map(len, names), default=0) > 4 else 0,
                  ha="right" if k > 4 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix" + (" (colour: row share)" if normalize else ""))
    return _save(fig, out)


def plot_label_distribution(counts: dict[str, dict[str, int]], out: str | Path) -> Path:
    """Grouped bars per label, one colour per split, to spot imbalance and splits missing a class."""
    labels = sorted({str(lab) for c in counts.values() for lab in c},
                    key=lambda s: (0, int(s), s) if s.lstrip("-").isdigit() else (1, 0, s))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(labels) * max(1, len(counts)) ** 0.5 + 2), 3.2))
    if not labels:
        _note(ax, "no labels")
    else:
        width = 0.8 / max(1, len(counts))
        x = np.arange(len(labels))
        for i, (split, c) in enumerate(counts.items()):
            c = {str(k): v for k, v in c.items()}
            ax.bar(x + i * width, [c.get(lab, 0) for lab in labels], width,
                   label=f"{split} ({sum(c.values())})")
        ax.set_xticks(x + width * (len(counts) - 1) / 2, labels,
                      rotation=45 if len(labels) > 10 else 0, ha="right" if len(labels) > 10 else "center")
        ax.legend(fontsize=8)
    ax.set_ylabel("images")
    ax.set_title("label distribution")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, out)


def plot_prf_table(prf: dict, labels: list[str], out: str | Path) -> Path:
    """Per-class precision / recall / F1 / support as a table picture (plus a macro-average row),
    so the numbers sit next to the confusion matrix in the report."""
    def num(v: Any) -> str:
        return f"{float(v):.3f}" if _finite(v) else "–"

    p, r, f, s = (np.asarray(prf[k], dtype=float) for k in ("precision", "recall", "f1", "support"))
    rows = [[str(lab), num(p[i]), num(r[i]), num(f[i]), str(int(s[i])) if _finite(s[i]) else "–"]
            for i, lab in enumerate(labels)]
    if rows:
        def mean(a: np.ndarray) -> float:
            a = a[: len(labels)]
            return float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")
        rows.append(["macro avg", num(mean(p)), num(mean(r)), num(mean(f)),
                     str(int(np.nansum(s[: len(labels)])))])
    fig, ax = plt.subplots(figsize=(5.5, 0.28 * (len(rows) + 1) + 0.4))
    ax.axis("off")
    if not rows:
        _note(ax, "no classes")
        return _save(fig, out)
    table = ax.table(cellText=rows, colLabels=["class", "precision", "recall", "F1", "support"],
                     loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.25)
    for (row, _col), cell in table.get_celld().items():
        if row == 0 or row == len(rows):  # header and macro-average rows
            cell.set_facecolor("#eeeeee")
            cell.get_text().set_fontweight("bold")
    return _save(fig, out)


def _displayable(img: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """Array and imshow kwargs for HxW / HxWx1 / HxWx3(4), uint8 or float in [0, 1]."""
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        return a, {"cmap": "gray", "vmin": 0, "vmax": 255 if a.dtype == np.uint8 else 1}
    if a.dtype != np.uint8:
        a = np.clip(a.astype(float), 0.0, 1.0)  # imshow wants RGB floats in [0, 1]
    return a, {}


def image_grid(images: list[np.ndarray], titles: list[str], out: str | Path, ncols: int = 8,
               colors: list[str] | None = None, scale: float = 1.5) -> Path:
    """Samples with small titles, coloured per image (e.g. green right / red wrong), to look at
    what the model gets wrong. No images still gives a small PNG saying so, so reports stay whole."""
    if not len(images):
        fig, ax = plt.subplots(figsize=(3, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "no samples", ha="center", va="center", color="gray")
        return _save(fig, out)
    ncols = max(1, min(int(ncols), len(images)))
    nrows = math.ceil(len(images) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(scale * ncols, (scale + 0.3) * nrows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i >= len(images):
            continue
        arr, kw = _displayable(images[i])
        ax.imshow(arr, interpolation="nearest", **kw)
        ax.set_title(str(titles[i]) if i < len(titles) else "", fontsize=6.5,
                     color=colors[i] if colors and i < len(colors) and colors[i] else "black")
    return _save(fig, out)


def plot_roc(fpr: np.ndarray, tpr: np.ndarray, out: str | Path, eer: float | None = None) -> Path:
    """ROC curve of a binary score, with the equal-error-rate point marked when given."""
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(np.asarray(fpr, float), np.asarray(tpr, float), label="ROC")
    ax.plot([0, 1], [0, 1], "--", color="gray", lw=0.8)
    if eer is not None and _finite(eer):
        ax.plot([eer], [1 - eer], "o", color="red", label=f"EER {eer:.3f}")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return _save(fig, out)


def plot_score_histogram(scores: np.ndarray, y_true: np.ndarray, out: str | Path,
                         threshold: float | None = None) -> Path:
    """Score histograms of class 0 and class 1 overlaid, with the decision threshold, to see how
    well a binary score separates the classes and where the overlap lies."""
    scores = np.asarray(scores, dtype=float).ravel()
    y_true = np.asarray(y_true).ravel()
    keep = np.isfinite(scores)
    scores, y_true = scores[keep], y_true[keep]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    if scores.size:
        lo, hi = float(scores.min()), float(scores.max())
        if threshold is not None and _finite(threshold):
            lo, hi = min(lo, float(threshold)), max(hi, float(threshold))
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        bins = np.linspace(lo, hi, 41)
        for cls in (0, 1):
            sel = scores[y_true == cls]
            ax.hist(sel, bins=bins, alpha=0.55, label=f"class {cls} ({sel.size})")
    else:
        _note(ax, "no scores")
    if threshold is not None and _finite(threshold):
        ax.axvline(float(threshold), color="red", ls="--", label=f"threshold {threshold:.3f}")
    ax.set_xlabel("score")
    ax.set_ylabel("count")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return _save(fig, out)


def _fmt(v: Any) -> str:
    """Floats (numpy ones too) with 4 significant digits; everything else as str."""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4g}"
    return str(v)


def html_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """Rows of dicts as an escaped HTML table; columns default to every key in first-seen order."""
    cols = list(columns) if columns is not None else list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c, '')))}</td>" for c in cols) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1200px;
padding:0 1em;color:#222}h1{font-size:1.5em}
h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:left}th{background:#f4f4f4}img{max-width:100%;margin:.4em 0;display:block}
.missing{color:#a00;font-style:italic}"""

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
         ".svg": "image/svg+xml"}


def _img_tag(path: Path) -> str:
    """An <img> with the file inlined as a data URI (no file beside the report is needed)."""
    if not path.is_file():
        return f"<p class='missing'>missing picture: {html.escape(path.name)}</p>"
    mime = _MIME.get(path.suffix.lower(), "image/png")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"<img alt='{html.escape(path.name, quote=True)}' src='data:{mime};base64,{data}'>"


def write_report(out_html: str | Path, title: str, sections: Sequence[tuple[str, list]]) -> Path:
    """One self-contained HTML file (inline CSS, pictures as base64) that opens offline.

    Each section is (heading, items); an item is a Path to a picture (embedded), a str of HTML
    (inserted as-is, e.g. from html_table) or a dict (a two-column name/value table).
    Title and headings are escaped."""
    parts = ["<!doctype html>",
             f"<html><head><meta charset='utf-8'><title>{html.escape(str(title))}</title>"
             f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(str(title))}</h1>"]
    for heading, items in sections:
        parts.append(f"<section><h2>{html.escape(str(heading))}</h2>")
        for item in items:
            if isinstance(item, Path):
                parts.append(_img_tag(item))
            elif isinstance(item, dict):
                parts.append(html_table([{"name": k, "value": v} for k, v in item.items()]))
            elif isinstance(item, str):
                parts.append(item)
            else:
                parts.append(f"<p>{html.escape(str(item))}</p>")
        parts.append("</section>")
    parts.append("</body></html>")
    out = Path(out_html)
    atomic_write_text(out, "\n".join(parts) + "\n")
    return out
