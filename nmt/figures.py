"""Attention heatmaps and learning curves.

Every function takes data (and, where it makes sense, an ``Axes`` to draw on) and returns a
``matplotlib.figure.Figure``. Only matplotlib's object API is used: no ``pyplot``, no global state,
no open windows, so it works headless (no DISPLAY) and in parallel tests. ``save_figure`` writes
the files; nothing else touches the disk.

Attention is drawn with source along x and target along y, on a fixed 0..1 colour scale so panels
and sentences can be compared by eye. Layers and heads are counted from 1 in titles, as in
``nmt.align.analyse_attention``. ``python -m nmt.plot`` (nmt/plot.py) is the command built on these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nmt.errors import ConfigError

CMAP = "viridis"  # perceptually uniform and readable in grey and by colour-blind readers
FORMATS = ("png", "svg", "pdf")


def _to_numpy(x: Any) -> np.ndarray:
    """A float numpy copy of an array or a torch tensor (duck-typed: no torch import here)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().float().numpy()
    return np.asarray(x, dtype=np.float64)


def _check_labels(shape: tuple[int, ...], src_labels: Sequence[str], tgt_labels: Sequence[str]) -> None:
    T, S = shape[-2:]
    if len(src_labels) != S or len(tgt_labels) != T:
        raise ValueError(
            f"weights are {T}x{S} (target x source) but got {len(tgt_labels)} target and {len(src_labels)} "
            "source labels; pass one label per row/column (include '</s>' if the EOS step is kept)"
        )


def _label_axes(ax: Axes, src_labels: Sequence[str], tgt_labels: Sequence[str], fontsize: float) -> None:
    """Put one tick per piece: source labels rotated under x, target labels along y."""
    ax.set_xticks(range(len(src_labels)), labels=list(src_labels), fontsize=fontsize)
    ax.tick_params(axis="x", labelrotation=60)
    for text in ax.get_xticklabels():
        text.set_horizontalalignment("right")
        text.set_rotation_mode("anchor")
    ax.set_yticks(range(len(tgt_labels)), labels=list(tgt_labels), fontsize=fontsize)


def attention_heatmap(
    weights: Any,
    src_labels: Sequence[str],
    tgt_labels: Sequence[str],
    title: str = "",
    ax: Axes | None = None,
    colorbar: bool = True,
    note: str | None = None,
    links: Iterable[tuple[int, int]] = (),
) -> Figure:
    """One attention matrix as a heatmap: source along x, target along y, colour scale 0..1.

    Args:
        weights: attention weights, one row per target position.
        src_labels: one label per source column (pieces or words).
        tgt_labels: one label per target row.
        title: axes title.
        ax: draw here instead of in a new figure (e.g. one panel of a bigger figure).
        colorbar: add a colour bar beside the axes.
        note: a second line under the x label, e.g. how pieces were merged into words.
        links: gold links ``(i, j)`` (source column i, target row j) to outline, e.g. Pharaoh links
            on a word-level heatmap.

    Returns:
        The new figure, or ``ax.figure`` when ``ax`` is given.

    Shapes:
        weights: (T, S) array or tensor.
    """
    w = _to_numpy(weights)
    if w.ndim != 2:
        raise ValueError(f"attention_heatmap expects one (T, S) matrix, got shape {w.shape}; use attention_grid")
    _check_labels(w.shape, src_labels, tgt_labels)
    T, S = w.shape
    if ax is None:
        size = (min(max(5.0, 2.0 + 0.32 * S), 30.0), min(max(3.0, 1.6 + 0.3 * T), 30.0))
        fig = Figure(figsize=size, layout="constrained")
        ax = fig.add_subplot()
    fig = ax.figure
    image = ax.imshow(w, cmap=CMAP, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    _label_axes(ax, src_labels, tgt_labels, fontsize=9 if max(S, T) <= 30 else 7)
    links = sorted(set(links))
    lines = ["source", *([note] if note else []), *(["red squares: gold links"] if links else [])]
    ax.set_xlabel("\n".join(lines))
    ax.set_ylabel("target")
    _outline(ax, links)
    if title:
        ax.set_title(title, fontsize=10)
    if colorbar:
        fig.colorbar(image, ax=ax, label="attention weight")
    return fig


def _outline(ax: Axes, links: Sequence[tuple[int, int]]) -> None:
    """Draw an open red square on each linked cell (the x label says what they are)."""
    if not links:
        return
    xs, ys = zip(*links, strict=True)
    ax.autoscale(False)  # keep the image's limits: markers must not pad the axes
    ax.scatter(xs, ys, s=90, marker="s", facecolors="none", edgecolors="red", linewidths=1.2)


def _grid_size(rows: int, cols: int, T: int, S: int) -> tuple[tuple[float, float], float]:
    """Figure inches for rows x cols panels and a label font size that fits one piece per tick.

    Panels grow with sentence length; the whole figure is capped to stay printable, and the font
    shrinks with it.
    """
    panel_w = min(max(1.8, 0.6 + 0.16 * S), 4.0)
    panel_h = min(max(1.6, 0.5 + 0.15 * T), 4.0)
    width, height = 1.6 + cols * panel_w, 1.2 + rows * panel_h
    scale = min(1.0, 32.0 / width, 24.0 / height)
    inches_per_tick = scale * min((panel_w - 0.6) / S, (panel_h - 0.5) / T)
    fontsize = min(max(0.8 * 72 * inches_per_tick, 4.0), 8.0)
    return (width * scale, height * scale), fontsize


def attention_grid(
    weights: Any,
    src_labels: Sequence[str],
    tgt_labels: Sequence[str],
    title: str = "",
    head_average: bool = True,
    note: str | None = None,
) -> Figure:
    """Every layer and head of one sentence: rows = layers, columns = heads (+ "avg").

    Panels share the 0..1 colour scale and one colour bar and are titled "layer l head k" (from 1).
    The "avg" column is the mean over heads, added when ``head_average`` and there is more than one
    head. Tick labels are drawn on the left column and bottom row only. ``note`` is written under
    the grid, e.g. how pieces were merged into words.

    Shapes:
        weights: (L, h, T, S) array or tensor (the RNN has L = h = 1).
    """
    w = _to_numpy(weights)
    if w.ndim != 4:
        raise ValueError(f"attention_grid expects (L, h, T, S) weights, got shape {w.shape}")
    _check_labels(w.shape, src_labels, tgt_labels)
    L, h, T, S = w.shape
    panels = [(f"head {k + 1}", w[:, k]) for k in range(h)]  # each (L, T, S)
    if head_average and h > 1:
        panels.append(("avg", w.mean(axis=1)))
    cols = len(panels)
    size, fontsize = _grid_size(L, cols, T, S)
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(L, cols, squeeze=False)
    image = None
    for layer in range(L):
        for col, (name, stack) in enumerate(panels):
            ax = axes[layer, col]
            image = ax.imshow(stack[layer], cmap=CMAP, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
            # tick labels on the outer panels only; inner panels get no ticks at all (ticks are most of the cost)
            _label_axes(ax, src_labels if layer == L - 1 else [], tgt_labels if col == 0 else [], fontsize=fontsize)
            ax.set_title(f"layer {layer + 1} {name}", fontsize=max(fontsize + 2, 8.0))
    fig.colorbar(image, ax=axes, shrink=0.6, pad=0.01, label="attention weight")  # pad: fraction of the whole grid
    if title:
        fig.suptitle(title)
    if note:
        fig.supxlabel(note, fontsize=8)
    return fig


def save_figure(fig: Figure, path: str | Path, formats: Sequence[str] = ("png",), dpi: int = 150) -> list[Path]:
    """Write ``fig`` once per format beside ``path``, creating the folder.

    ``path`` may carry a suffix ("heat.png") or not ("heat"); each file gets its format's suffix.
    Dates are left out of svg/pdf metadata so the same figure gives the same bytes.

    Returns:
        The written paths, in the order of ``formats``.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ConfigError(f"cannot save as {unknown or 'nothing'}; choose formats from {FORMATS}")
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lower().lstrip(".") in FORMATS else path
    stem.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": None}
    written = []
    for fmt in formats:
        out = stem.parent / f"{stem.name}.{fmt}"
        fig.savefig(out, format=fmt, dpi=dpi, metadata=metadata[fmt])
        written.append(out)
    return written


def learning_curves(
    curves: Mapping[str, Sequence[tuple[float, float]]],
    xlabel: str = "step",
    ylabel: str = "val BLEU",
    title: str = "",
    ax: Axes | None = None,
) -> Figure:
    """One line per model, e.g. validation BLEU against wall-clock time or step.

    Args:
        curves: model name -> (x, y) points; they are sorted by x before drawing.
        xlabel: x axis label, e.g. "wall time (s)".
        ylabel: y axis label.
        title: axes title.
        ax: draw here instead of in a new figure.

    Returns:
        The new figure, or ``ax.figure`` when ``ax`` is given.
    """
    if not curves:
        raise ValueError("learning_curves needs at least one model's points")
    if ax is None:
        ax = Figure(figsize=(6.4, 4.0), layout="constrained").add_subplot()
    fig = ax.figure
    for name, points in curves.items():
        xs, ys = zip(*sorted(points), strict=True) if points else ((), ())
        ax.plot(xs, ys, marker="o", markersize=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return fig
