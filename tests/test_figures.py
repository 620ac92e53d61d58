"""Heatmaps, grids, learning curves and saving: object API only, headless."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from nmt.figures import attention_grid, attention_heatmap, learning_curves, save_figure

SRC = ["▁The", "▁man", "▁ride", "s", "▁a", "▁bik", "e", ".", "</s>"]
TGT = ["▁Der", "▁Mann", "▁fähr", "t", "▁ein", "▁Fahr", "rad", ".", "</s>"]


def _weights(*lead: int) -> np.ndarray:
    """Random attention rows over SRC, one per TGT piece. Shapes: -> (*lead, T, S)."""
    raw = np.random.default_rng(0).random((*lead, len(TGT), len(SRC)))
    return raw / raw.sum(axis=-1, keepdims=True)


def _panels(fig: Figure) -> list:
    """Axes holding a heatmap (the colour bar's axes hold none)."""
    return [ax for ax in fig.axes if ax.get_images() and ax.get_label() != "<colorbar>"]


def test_heatmap_tick_labels_are_the_pieces() -> None:
    fig = attention_heatmap(torch.tensor(_weights()), SRC, TGT, title="a sentence", note="rows: target pieces")
    ax = _panels(fig)[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == SRC
    assert [t.get_text() for t in ax.get_yticklabels()] == TGT
    assert ax.get_title() == "a sentence"
    assert "rows: target pieces" in ax.get_xlabel()
    assert len(fig.axes) == 2  # the heatmap and its colour bar
    assert ax.get_images()[0].get_clim() == (0.0, 1.0)
    assert ax.get_images()[0].get_array().shape == (len(TGT), len(SRC))  # target along y, source along x


def test_heatmap_draws_on_a_given_axes_without_colorbar() -> None:
    fig = Figure()
    left, right = fig.subplots(1, 2)
    out = attention_heatmap(_weights(), SRC, TGT, ax=right, colorbar=False)
    assert out is fig
    assert right.get_images() and not left.get_images()
    assert len(fig.axes) == 2


def test_heatmap_rejects_wrong_label_counts() -> None:
    with pytest.raises(ValueError, match="one label per row/column"):
        attention_heatmap(_weights(), SRC[:-1], TGT)
    with pytest.raises(ValueError, match="attention_grid"):
        attention_heatmap(_weights(2), SRC, TGT)


def test_grid_has_one_panel_per_layer_and_head_plus_average() -> None:
    L, h = 2, 3
    fig = attention_grid(_weights(L, h), SRC, TGT, title="grid")
    panels = _panels(fig)
    assert len(panels) == L * (h + 1)
    titles = [ax.get_title() for ax in panels]
    assert titles[:4] == ["layer 1 head 1", "layer 1 head 2", "layer 1 head 3", "layer 1 avg"]
    assert titles[-1] == "layer 2 avg"
    assert all(ax.get_images()[0].get_clim() == (0.0, 1.0) for ax in panels)  # one shared scale
    np.testing.assert_allclose(panels[3].get_images()[0].get_array(), _weights(L, h)[0].mean(axis=0))
    bottom_left = panels[h + 1]
    assert [t.get_text() for t in bottom_left.get_xticklabels()] == SRC
    assert [t.get_text() for t in bottom_left.get_yticklabels()] == TGT
    top_right = panels[h]
    assert not any(t.get_visible() for t in top_right.get_xticklabels() + top_right.get_yticklabels())
    assert fig.get_suptitle() == "grid"


def test_grid_size_grows_with_panels_and_one_head_has_no_average() -> None:
    rnn = attention_grid(_weights(1, 1), SRC, TGT)
    assert len(_panels(rnn)) == 1
    big = attention_grid(_weights(6, 8), SRC, TGT)
    assert len(_panels(big)) == 6 * 9
    assert (big.get_size_inches() > rnn.get_size_inches()).all()
    assert len(_panels(attention_grid(_weights(2, 4), SRC, TGT, head_average=False))) == 8


def test_save_figure_writes_every_format(tmp_path) -> None:
    fig = attention_heatmap(_weights(), SRC, TGT)
    paths = save_figure(fig, tmp_path / "new" / "dir" / "heat.png", formats=("png", "svg", "pdf"))
    assert [p.name for p in paths] == ["heat.png", "heat.svg", "heat.pdf"]
    heads = [p.read_bytes()[:64] for p in paths]
    assert heads[0].startswith(b"\x89PNG") and b"<svg" in paths[1].read_bytes()[:2000] and heads[2].startswith(b"%PDF")
    assert all(p.stat().st_size > 1000 for p in paths)
    assert save_figure(fig, tmp_path / "run.v2") == [tmp_path / "run.v2.png"]  # a dot in the name is not a suffix
    with pytest.raises(ValueError, match="choose formats"):
        save_figure(fig, tmp_path / "x", formats=("jpg",))


def test_learning_curves_one_line_per_model_sorted_by_x() -> None:
    fig = learning_curves(
        {"rnn": [(2.0, 10.0), (1.0, 5.0)], "transformer": [(1.0, 8.0), (3.0, 20.0)]},
        xlabel="wall time (s)",
        ylabel="val BLEU",
        title="curves",
    )
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["rnn", "transformer"]
    assert list(lines[0].get_xdata()) == [1.0, 2.0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["rnn", "transformer"]
    assert ax.get_xlabel() == "wall time (s)"


def test_figures_never_import_pyplot_and_run_headless(tmp_path) -> None:
    code = (
        "import sys\n"
        "import nmt.figures, nmt.align\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "import numpy as np\n"
        "fig = nmt.figures.attention_heatmap(np.eye(2), ['a', 'b'], ['x', 'y'])\n"
        f"nmt.figures.save_figure(fig, {str(tmp_path / 'h')!r}, ('png', 'pdf'))\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"DISPLAY", "MPLBACKEND", "WAYLAND_DISPLAY"}}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "h.png").stat().st_size > 0 and (tmp_path / "h.pdf").stat().st_size > 0


def _pixels(fig: Figure) -> np.ndarray:
    """The figure drawn by Agg at a low dpi, as an RGBA array."""
    fig.set_dpi(40)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def _texts(fig: Figure) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


def test_grid_labels_only_the_outer_panels_and_names_its_axes() -> None:
    L, h = 3, 2
    fig = attention_grid(_weights(L, h), SRC, TGT, title="grid", note="a note", axis_names=("keys", "queries"))
    panels = _panels(fig)
    assert len(panels) == L * (h + 1)
    for k, ax in enumerate(panels):
        row, col = divmod(k, h + 1)
        assert ax.get_title() == f"layer {row + 1} {'avg' if col == h else f'head {col + 1}'}"
        assert [t.get_text() for t in ax.get_xticklabels()] == (SRC if row == L - 1 else [])  # bottom row only
        assert [t.get_text() for t in ax.get_yticklabels()] == (TGT if col == 0 else [])  # first column only
    assert fig.get_supxlabel() == "keys\na note" and fig.get_supylabel() == "queries"
    (bar,) = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert bar.get_ylabel() == "attention weight"
    assert fig.get_suptitle() == "grid" and fig.get_layout_engine() is None  # laid out once, not at each save


@pytest.mark.parametrize("kind", ["grid", "heatmap"])
def test_fixed_layout_keeps_every_text_inside_and_apart(kind) -> None:
    src = ["▁Donaudampfschifffahrtsgesellschaft", *SRC[1:]]  # a long first label leans out to the left
    tgt = [*TGT[:-2], "▁Kapitänsmützenknopflochnähmaschine", "</s>"]
    title = "a model · cross-attention\nval #12 · teacher-forced on the reference"
    if kind == "grid":
        fig = attention_grid(_weights(2, 3), src, tgt, title=title, note="words: summed\nover pieces")
    else:
        fig = attention_heatmap(_weights(), src, tgt, title=title, note="words: summed\nover pieces", links=[(0, 0)])
    _pixels(fig)
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    boxes = {id(t): t.get_window_extent(renderer) for t in _texts(fig)}
    for text in _texts(fig):  # nothing cut off at the figure's edges
        b = boxes[id(text)]
        assert b.x0 >= box.x0 - 1 and b.x1 <= box.x1 + 1 and b.y0 >= box.y0 - 1 and b.y1 <= box.y1 + 1, text.get_text()
    panels = _panels(fig)
    ticks = [t for ax in panels for t in ax.get_xticklabels() + ax.get_yticklabels() if t.get_text()]
    if kind == "grid":
        names = [t for t in _texts(fig) if t.get_text() in (fig.get_supxlabel(), fig.get_supylabel())]
    else:
        names = [panels[0].xaxis.label, panels[0].yaxis.label]
    assert len(names) == 2
    for name in names:  # axis names beside the tick labels, not over them
        assert not any(boxes[id(name)].overlaps(boxes[id(t)]) for t in ticks), name.get_text()
    if kind == "grid":  # a row's titles clear of the row above; the figure's title above them all
        half = len(panels) // 2  # two rows
        for upper, lower in zip(panels[:half], panels[half:], strict=True):
            assert boxes[id(lower.title)].y1 <= upper.get_window_extent(renderer).y0
        (suptitle,) = [t for t in _texts(fig) if t.get_text() == title]
        assert all(boxes[id(ax.title)].y1 < boxes[id(suptitle)].y0 for ax in panels)


def test_grid_redrawn_in_place_equals_a_new_one() -> None:
    first = attention_grid(_weights(2, 3), SRC, TGT, title="first")
    src, tgt = SRC[:4] + ["</s>"], TGT[:2] + ["</s>"]
    raw = np.random.default_rng(1).random((2, 3, len(tgt), len(src)))
    other = raw / raw.sum(axis=-1, keepdims=True)
    redrawn = attention_grid(other, src, tgt, title="second", note="n", redraw=first)
    assert redrawn is first  # same layers and heads: the same figure, moved and refilled
    assert [t.get_text() for t in _panels(redrawn)[4].get_xticklabels()] == src
    assert [t.get_text() for t in _panels(redrawn)[4].get_yticklabels()] == tgt
    np.testing.assert_array_equal(_pixels(redrawn), _pixels(attention_grid(other, src, tgt, title="second", note="n")))
    assert attention_grid(_weights(3, 3), SRC, TGT, redraw=first) is not first  # another shape: a new figure
    assert attention_grid(_weights(1, 1), SRC, TGT, redraw=Figure()) is not None  # not a grid: a new figure
