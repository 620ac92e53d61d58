"""Heatmaps, grids, learning curves and saving: object API only, headless."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

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
