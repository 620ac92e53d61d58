"""Attention heatmaps and learning curves.

Every function takes data (and, where it makes sense, an ``Axes`` to draw on) and returns a
``matplotlib.figure.Figure``. Only matplotlib's object API is used: no ``pyplot``, no global state,
no open windows, so it works headless (no DISPLAY) and in parallel tests. ``save_figure`` writes
the files; nothing else touches the disk.

Attention is drawn with source along x and target along y, on a fixed 0..1 colour scale so panels
and sentences can be compared by eye. Layers and heads are counted from 1 in titles, as in
``nmt.align.analyse_attention``. ``python -m nmt.plot`` (nmt/plot.py) is the command built on these.

New heatmap figures are placed by ``nmt.heatmap_layout`` (margins from the label widths, computed once)
rather than by a layout engine that measures every label again at each save; ``attention_grid`` can
redraw a grid it made before for the next sentence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from nmt.errors import ConfigError
from nmt.heatmap_layout import LABEL_SIZE, PAD, POINT, ROTATION, TITLE_SIZE, Frame, text_height

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
    ax.tick_params(axis="x", labelrotation=ROTATION)
    for text in ax.get_xticklabels():
        text.set_horizontalalignment("right")
        text.set_rotation_mode("anchor")
    ax.set_yticks(range(len(tgt_labels)), labels=list(tgt_labels), fontsize=fontsize)


def _show(ax: Axes, weights: np.ndarray, redraw: bool = False) -> AxesImage:
    """A heatmap of ``weights`` on the 0..1 scale on ``ax``; with ``redraw``, the one ``ax`` holds, refilled.

    Shapes: weights (T, S).
    """
    if not redraw:
        return ax.imshow(weights, cmap=CMAP, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    T, S = weights.shape
    (image,) = ax.get_images()
    image.set_data(weights)
    image.set_extent((-0.5, S - 0.5, T - 0.5, -0.5))  # also the axes' limits, as imshow sets them
    return image


# --------------------------------------------------------------------------- heatmaps


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
        The new figure, laid out once from its labels (no layout engine), or ``ax.figure`` when ``ax``
        is given.

    Shapes:
        weights: (T, S) array or tensor.
    """
    w = _to_numpy(weights)
    if w.ndim != 2:
        raise ValueError(f"attention_heatmap expects one (T, S) matrix, got shape {w.shape}; use attention_grid")
    _check_labels(w.shape, src_labels, tgt_labels)
    T, S = w.shape
    fontsize = 9 if max(S, T) <= 30 else 7
    links = sorted(set(links))
    xlabel = "\n".join(["source", *([note] if note else []), *(["red squares: gold links"] if links else [])])
    cax = None
    if ax is None:
        panel = (min(max(3.0, 0.3 * S), 26.0), min(max(2.0, 0.28 * T), 26.0))
        label = text_height("x", LABEL_SIZE) + 4 * POINT  # matplotlib's label pad
        texts = (text_height(title, 10) + 6 * POINT, text_height(xlabel, LABEL_SIZE) + 4 * POINT, label)
        frame = Frame.around((1, 1, panel), (src_labels, tgt_labels, fontsize), texts, colorbar=colorbar)
        _, (ax,), cax = frame.place(colorbar=colorbar)
    fig = ax.figure
    image = _show(ax, w)
    _label_axes(ax, src_labels, tgt_labels, fontsize=fontsize)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("target")
    _outline(ax, links)
    if title:
        ax.set_title(title, fontsize=10, y=1.0, pad=6)  # y: no search for what the title might overlap
    if colorbar:  # in the frame's place for it, or taken from the given axes
        fig.colorbar(image, **({"cax": cax} if cax else {"ax": ax}), label="attention weight")
    return fig


def _outline(ax: Axes, links: Sequence[tuple[int, int]]) -> None:
    """Draw an open red square on each linked cell (the x label says what they are)."""
    if not links:
        return
    xs, ys = zip(*links, strict=True)
    ax.autoscale(False)  # keep the image's limits: markers must not pad the axes
    ax.scatter(xs, ys, s=90, marker="s", facecolors="none", edgecolors="red", linewidths=1.2)


def _grid_size(rows: int, cols: int, T: int, S: int) -> tuple[tuple[float, float], float]:
    """Inches of one panel of a rows x cols grid and a label font size that fits one piece per tick.

    Panels grow with sentence length; the whole grid is capped to stay printable, and the font
    shrinks with it.
    """
    panel_w = min(max(1.8, 0.6 + 0.16 * S), 4.0)
    panel_h = min(max(1.6, 0.5 + 0.15 * T), 4.0)
    scale = min(1.0, 30.0 / (cols * panel_w), 22.0 / (rows * panel_h))
    inches_per_tick = scale * min((panel_w - 0.6) / S, (panel_h - 0.5) / T)
    fontsize = min(max(0.8 * 72 * inches_per_tick, 4.0), 8.0)
    return (panel_w * scale, panel_h * scale), fontsize


def attention_grid(
    weights: Any,
    src_labels: Sequence[str],
    tgt_labels: Sequence[str],
    title: str = "",
    head_average: bool = True,
    note: str | None = None,
    axis_names: tuple[str, str] = ("source", "target"),
    redraw: Figure | None = None,
) -> Figure:
    """Every layer and head of one sentence: rows = layers, columns = heads (+ "avg").

    Panels share the 0..1 colour scale and one colour bar and are titled "layer l head k" (from 1).
    The "avg" column is the mean over heads, added when ``head_average`` and there is more than one
    head. Source labels are drawn under the bottom row only, target labels left of the first column
    only; ``axis_names`` (x, y) name the axes of the whole grid and ``note`` is written under the x
    name, e.g. how pieces were merged into words. The layout is computed here, from the labels: no
    layout engine runs when the figure is saved.

    ``redraw``: a figure this function returned before, for another sentence; when it has as many
    layers and columns it is redrawn in place (its axes and ticks are kept, which is faster than a
    new figure) and returned, otherwise a new figure is. Save it before redrawing it.

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
    panel, fontsize = _grid_size(L, cols, T, S)
    title_size = max(fontsize + 2, 8.0)
    xname = f"{axis_names[0]}\n{note}" if note else axis_names[0]
    panel_title = text_height("x", title_size) + 4 * POINT
    above = text_height(title, TITLE_SIZE) + 0.06 + panel_title
    texts = (above, text_height(xname, LABEL_SIZE), text_height("x", LABEL_SIZE) + 0.04)
    frame = Frame.around((L, cols, panel), (src_labels, tgt_labels, fontsize), texts, gaps=(0.12, panel_title + 0.1))
    reused = frame.fits(redraw)
    fig, axes, bar = frame.place(redraw if reused else None)
    for k, ax in enumerate(axes):
        (layer, col), (name, stack) = divmod(k, cols), panels[k % cols]
        image = _show(ax, stack[layer], redraw=reused)
        # tick labels on the outer panels only; inner panels get no ticks at all (ticks are most of the cost)
        _label_axes(ax, src_labels if layer == L - 1 else [], tgt_labels if col == 0 else [], fontsize=fontsize)
        ax.set_title(f"layer {layer + 1} {name}", fontsize=title_size, y=1.0, pad=4)  # y: not moved at each save
    if not reused:
        fig.colorbar(image, cax=bar, label="attention weight")
    (x, y), (width, height) = frame.centre, frame.size
    fig.suptitle(title, x=x, y=1 - PAD / height, fontsize=TITLE_SIZE)
    fig.supxlabel(xname, x=x, y=PAD / height, fontsize=LABEL_SIZE, va="bottom")
    fig.supylabel(axis_names[1], x=PAD / width, y=y, fontsize=LABEL_SIZE)
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
