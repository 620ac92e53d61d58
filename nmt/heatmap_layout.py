"""A fixed layout for heatmap figures: panel positions computed once, from the label strings.

``nmt.figures`` places its heatmaps and grids with a ``Frame`` instead of a layout engine. Margins come
from the widths of the label strings, measured on the font without drawing anything; constrained or
tight layout would lay every tick label out again at each save, which was most of the cost of a split's
heatmaps (``python -m nmt.plot split=…``). A frame can also move the panels of a figure it placed before,
so that one figure is redrawn for the next sentence instead of built again.

Lengths are in inches, positions handed to matplotlib in figure fractions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path

ROTATION = 60  # degrees of the source labels under x
POINT = 1 / 72
PAD = 0.08  # between the figure's edge and its outer texts
TICK = (3.5 + 3.5) * POINT  # matplotlib's default tick length + label pad
LABEL_SIZE, TITLE_SIZE = 10.0, 12.0  # axis and colour bar labels; a grid's title (points)
BAR_GAP, BAR_WIDTH = 0.12, 0.15  # the colour bar right of the panels
COLORBAR = "<colorbar>"  # the label of a colour bar's axes, as matplotlib names the ones it makes


def text_width(texts: Iterable[str], fontsize: float) -> float:
    """Inches of the widest line among ``texts`` at ``fontsize``, measured on the font."""
    prop = FontProperties(size=fontsize)
    lines = {line for text in texts for line in str(text).split("\n")}
    widths = (text_to_path.get_text_width_height_descent(line, prop, ismath=False)[0] for line in lines)
    return max(widths, default=0.0) * POINT


def text_height(text: str | None, fontsize: float) -> float:
    """Inches of the lines of ``text`` at ``fontsize`` (matplotlib's 1.2 line spacing); 0 for no text."""
    return (text.count("\n") + 1) * 1.2 * fontsize * POINT if text else 0.0


@dataclass(frozen=True)
class Frame:
    """rows x cols panels of ``panel`` (width, height), ``gaps`` (across, down) between them, ``margins``
    (left, bottom, right, top) around them; a colour bar right of the panels when the right margin has room."""

    rows: int
    cols: int
    panel: tuple[float, float]
    margins: tuple[float, float, float, float]
    gaps: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def around(
        cls,
        shape: tuple[int, int, tuple[float, float]],
        labels: tuple[Sequence[str], Sequence[str], float],
        texts: tuple[float, float, float],
        gaps: tuple[float, float] = (0.0, 0.0),
        colorbar: bool = True,
    ) -> Frame:
        """The frame of ``shape`` (rows, cols, panel) with margins that fit ``labels`` (source labels,
        target labels, their font size): the source labels rotated under the bottom row, the target labels
        left of the first column. ``texts`` are the inches of the titles above the panels, of the lines
        under the source labels and of the lines left of the target labels."""
        src_labels, tgt_labels, fontsize = labels
        above, below, beside = texts
        rad = np.deg2rad(ROTATION)
        under = TICK + text_width(src_labels, fontsize) * np.sin(rad) + text_height("x", fontsize) * np.cos(rad)
        overhang = text_width(src_labels[:1], fontsize) * np.cos(rad)  # the first source label leans left
        left = max(PAD + beside + TICK + text_width(tgt_labels, fontsize), PAD + overhang)
        bar = BAR_GAP + BAR_WIDTH + TICK + text_width(["0.0"], LABEL_SIZE) + 4 * POINT + text_height("x", LABEL_SIZE)
        right = PAD + (bar if colorbar else 0.0)
        return cls(*shape, margins=(left, PAD + below + under, right, PAD + above), gaps=gaps)

    @property
    def grid(self) -> tuple[float, float]:
        """Width and height of the panels and the gaps between them."""
        (pw, ph), (across, down) = self.panel, self.gaps
        return self.cols * pw + (self.cols - 1) * across, self.rows * ph + (self.rows - 1) * down

    @property
    def size(self) -> tuple[float, float]:
        """Width and height of the whole figure."""
        left, bottom, right, top = self.margins
        return left + self.grid[0] + right, bottom + self.grid[1] + top

    @property
    def centre(self) -> tuple[float, float]:
        """The middle of the panels, in figure fractions: where texts about all of them are centred."""
        (left, bottom, _, _), (width, height) = self.margins, self.size
        return (left + self.grid[0] / 2) / width, (bottom + self.grid[1] / 2) / height

    def _rects(self) -> tuple[list[tuple[float, float, float, float]], tuple[float, float, float, float]]:
        """Each panel's (x, y, width, height), row by row from the top, and the colour bar's, in fractions."""
        (pw, ph), (across, down) = self.panel, self.gaps
        (left, bottom, _, top), (width, height) = self.margins, self.size
        panels = [
            (
                (left + c * (pw + across)) / width,
                (height - top - r * (ph + down) - ph) / height,
                pw / width,
                ph / height,
            )
            for r in range(self.rows)
            for c in range(self.cols)
        ]
        bar_h = min(self.grid[1], max(0.6 * self.grid[1], 1.5))
        x, y = left + self.grid[0] + BAR_GAP, bottom + (self.grid[1] - bar_h) / 2
        return panels, (x / width, y / height, BAR_WIDTH / width, bar_h / height)

    def fits(self, fig: Figure | None) -> bool:
        """Whether ``fig`` was placed by a frame of as many rows and columns, with a colour bar."""
        if fig is None or len(fig.axes) != self.rows * self.cols + 1 or fig.axes[-1].get_label() != COLORBAR:
            return False
        panels = fig.axes[:-1]
        return all(ax.get_images() for ax in panels) and len({ax.get_position().y0 for ax in panels}) == self.rows

    def place(self, fig: Figure | None = None, colorbar: bool = True) -> tuple[Figure, list[Axes], Axes | None]:
        """A new figure of empty panels (row by row) and a colour bar's axes (None without ``colorbar``); or,
        with ``fig`` (which ``fits``), its panels and colour bar moved and the figure resized to this frame."""
        panels, bar = self._rects()
        if fig is None:
            fig = Figure(figsize=self.size)
            axes = [fig.add_axes(rect) for rect in panels]
            return fig, axes, fig.add_axes(bar, label=COLORBAR) if colorbar else None
        fig.set_size_inches(self.size)
        *axes, colorbar_axes = fig.axes
        for ax, rect in zip(axes, panels, strict=True):
            ax.set_position(rect)
        colorbar_axes.set_position(bar)
        return fig, axes, colorbar_axes
