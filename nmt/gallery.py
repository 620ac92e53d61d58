"""An index page over a folder of figures: one small thumbnail per figure, each linked to its files.

``save_thumbnail`` writes the thumbnail of one figure, ``write_index`` the page (``index.html``).
``python -m nmt.plot split=…`` writes one beside a split's heatmaps. Links are relative, so the folder
can be moved or published as it is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from urllib.parse import quote

from matplotlib.figure import Figure
from PIL import Image

THUMBNAIL_BOX = (400, 300)  # pixels a thumbnail fits in (twice the index page's row height, for sharp screens)


def save_thumbnail(fig: Figure, path: Path, png: Path | None = None, box: tuple[int, int] = THUMBNAIL_BOX) -> Path:
    """Write a small png of ``fig`` that fits ``box`` pixels (keeping its proportions) at ``path``.

    With ``png``, the figure's full-size png that was just saved, the thumbnail is shrunk from it
    (Lanczos, a few milliseconds) instead of drawing the figure once more at a low dpi.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if png is None:
        width, height = fig.get_size_inches()
        dpi = min(box[0] / width, box[1] / height)
        fig.savefig(path, format="png", dpi=dpi, metadata=None)
        return path
    with Image.open(png) as image:
        image.thumbnail(box, Image.Resampling.LANCZOS)
        # the figures are opaque (no alpha to keep); a 256-colour palette takes a third of RGB's bytes
        image.convert("RGB").quantize(256).save(path, format="png")
    return path


@dataclass(frozen=True)
class Shown:
    """One figure on an index page: its files (one per format) and its thumbnail."""

    name: str
    files: Sequence[Path]
    thumbnail: Path


def _href(target: Path, page: Path) -> str:
    """``target`` relative to the folder of ``page``, quoted for an HTML attribute."""
    return quote(Path(os.path.relpath(target, page.parent)).as_posix())


def _cell(shown: Shown, page: Path) -> str:
    """One figure: its thumbnail, linked to its first file, and a link per format."""
    first = _href(shown.files[0], page)
    links = " ".join(f'<a href="{_href(f, page)}">{escape(f.suffix[1:])}</a>' for f in shown.files)
    image = f'<img src="{_href(shown.thumbnail, page)}" alt="{escape(shown.name)}" loading="lazy">'
    return f'<figure><a href="{first}">{image}</a><figcaption>{escape(shown.name)} {links}</figcaption></figure>'


def write_index(path: Path, title: str, sections: Sequence[tuple[str, Sequence[Shown]]]) -> Path:
    """Write one HTML page at ``path``: a section per (caption, figures), e.g. one per sentence.

    Every figure shows its thumbnail, which links to its first file; each file (png, svg, pdf) is also
    linked by name beside it.
    """
    parts = [
        f"<section><h2>{escape(caption)}</h2>{''.join(_cell(s, path) for s in shown)}</section>"
        for caption, shown in sections
    ]
    page = (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{escape(title)}</title><style>"
        "body{font-family:sans-serif;margin:1em}h2{font-size:1em;margin:.8em 0 .2em}figure{display:inline-block;"
        "margin:0 .5em .5em 0;vertical-align:top}img{max-height:150px;border:1px solid #ccc}"
        "figcaption{font-size:.8em}</style></head>\n"
        f"<body><h1>{escape(title)}</h1>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
