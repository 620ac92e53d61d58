"""Reading line-aligned parallel text: plain or gzip files, strict UTF-8, clear errors.

Every reader raises :class:`CorpusError` with one line that names the file (and line) and says how
to fix it. Text is kept as written: only the line break (and a UTF-8 byte-order mark at the start
of the file) is removed here; :func:`drop_empty_pairs` strips outer whitespace and drops pairs
with an empty side.
"""

from __future__ import annotations

import gzip
import logging
import re
import zlib
from pathlib import Path
from typing import NamedTuple

from nmt.corpora.base import CorpusError

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
_BOM = "\ufeff"
_PHARAOH_LINK = re.compile(r"(\d+)-(\d+)")


class KeptPairs(NamedTuple):
    """What :func:`drop_empty_pairs` keeps, and how many pairs it dropped."""

    src: list[str]
    tgt: list[str]
    alignments: list[str] | None
    dropped: int


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when it starts with the gzip magic number (whatever its suffix)."""
    if not path.exists():
        raise CorpusError(f"{path}: no such file; check the path (a relative path is read from the launch directory)")
    if not path.is_file():
        raise CorpusError(f"{path}: is not a regular file; give the path of a text file (plain or .gz)")
    raw = path.read_bytes()
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise CorpusError(f"{path}: damaged gzip data ({err}); download or compress the file again") from None


def _decode(data: bytes, path: Path) -> str:
    """Strict UTF-8; on failure, name the line and the byte offset (counted in the decompressed text)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise CorpusError(
            f"{path}:{line}: invalid UTF-8 at byte offset {err.start}; "
            f"re-encode the file as UTF-8, e.g. iconv -f latin1 -t utf-8 {path.name} > fixed.txt"
        ) from None


def read_lines(path: str | Path) -> list[str]:
    """Read a UTF-8 text file (plain or gzip) into one string per line.

    A leading byte-order mark and each line's "\\n" or "\\r\\n" are removed; all other characters
    are kept. Lines are split on "\\n" only (not ``str.splitlines``, which would also split on
    characters such as U+2028 or form feed inside a sentence and break the line alignment).

    Args:
        path: The file. Gzip is detected by its magic bytes, so the suffix does not matter.

    Returns:
        The lines, in order, without their line breaks.

    Raises:
        CorpusError: The file is missing, empty, damaged gzip, or not valid UTF-8.
    """
    path = Path(path).expanduser()
    text = _decode(_read_bytes(path), path)
    if text.startswith(_BOM):
        text = text[len(_BOM) :]
    if not text:
        raise CorpusError(f"{path}: the file is empty; give a file with one sentence per line")
    lines = text.split("\n")
    if lines[-1] == "":  # the final line break ends the last line; it does not start a new one
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def check_line_counts(a: list[str], a_path: str | Path, b: list[str], b_path: str | Path) -> None:
    """Raise a CorpusError unless two files that must be line-aligned have the same number of lines."""
    if len(a) != len(b):
        raise CorpusError(f"{a_path} has {len(a)} lines, {b_path} has {len(b)}; parallel files must be line-aligned")


def read_parallel(src_path: str | Path, tgt_path: str | Path) -> tuple[list[str], list[str]]:
    """Read a source file and a target file that are aligned line by line.

    Args:
        src_path: Source-language file (plain or gzip).
        tgt_path: Target-language file (plain or gzip).

    Returns:
        ``(src_lines, tgt_lines)``, of equal length.

    Raises:
        CorpusError: Either file cannot be read (see :func:`read_lines`) or their line counts differ.
    """
    src, tgt = read_lines(src_path), read_lines(tgt_path)
    check_line_counts(src, src_path, tgt, tgt_path)
    return src, tgt


def read_tsv(path: str | Path) -> tuple[list[str], list[str]]:
    """Read a file of ``source<TAB>target`` lines.

    A blank (whitespace-only) line is read as an empty pair, which :func:`drop_empty_pairs` then
    drops with a warning; any other line must hold exactly one tab.

    Args:
        path: The TSV file (plain or gzip).

    Returns:
        ``(src_lines, tgt_lines)``, of equal length.

    Raises:
        CorpusError: The file cannot be read, or a line does not hold exactly one tab.
    """
    src: list[str] = []
    tgt: list[str] = []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            src.append("")
            tgt.append("")
            continue
        tabs = line.count("\t")
        if tabs != 1:
            raise CorpusError(
                f"{path}:{number}: expected exactly one tab (source<TAB>target), found {tabs}; "
                "fix the line or give the split as two files (src, tgt)"
            )
        s, t = line.split("\t")
        src.append(s)
        tgt.append(t)
    return src, tgt


def check_alignments(alignments: list[str], src: list[str], tgt: list[str], path: str | Path, where: str) -> None:
    """Check Pharaoh lines ("i-j ...", word indices split on whitespace) against their sentence pairs.

    Args:
        alignments: One Pharaoh line per pair (may be empty: a pair without links).
        src: Source sentences, one per alignment line.
        tgt: Target sentences, one per alignment line.
        path: The alignment file, for the error message.
        where: The files the pairs came from, for the error message.

    Raises:
        CorpusError: The line counts differ, a link is not "i-j", or an index points past its sentence.
    """
    check_line_counts(alignments, path, src, where)
    for number, (links, s, t) in enumerate(zip(alignments, src, tgt, strict=True), start=1):
        n_src, n_tgt = len(s.split()), len(t.split())
        for link in links.split():
            match = _PHARAOH_LINK.fullmatch(link)
            if match is None:
                raise CorpusError(f"{path}:{number}: {link!r} is not a Pharaoh link; write links as i-j (e.g. 0-0 1-2)")
            i, j = int(match.group(1)), int(match.group(2))
            if i >= n_src or j >= n_tgt:
                raise CorpusError(
                    f"{path}:{number}: link {link} points past the pair ({n_src} source, {n_tgt} target words); "
                    "alignments must index whitespace-separated words of the same pair, from 0"
                )


def drop_empty_pairs(src: list[str], tgt: list[str], where: str, alignments: list[str] | None = None) -> KeptPairs:
    """Strip outer whitespace and drop every pair whose source or target side is then empty.

    Inner whitespace is kept as is. When pairs are dropped, one warning gives their count and
    ``where`` they came from; nothing is dropped silently.

    Args:
        src: Source lines.
        tgt: Target lines, aligned with ``src``.
        where: The files the pairs came from (e.g. "train.en.gz / train.de.gz"), for the warning.
        alignments: Optional Pharaoh lines aligned with the pairs; a dropped pair drops its line.

    Returns:
        The kept source lines, target lines, alignments (or None) and the number of dropped pairs.
    """
    check_line_counts(src, f"source ({where})", tgt, "target")
    if alignments is not None:
        check_line_counts(alignments, "alignments", src, where)
    kept = [k for k, (s, t) in enumerate(zip(src, tgt, strict=True)) if s.strip() and t.strip()]
    dropped = len(src) - len(kept)
    if dropped:
        log.warning("dropped %d of %d pairs with an empty side in %s", dropped, len(src), where)
    return KeptPairs(
        src=[src[k].strip() for k in kept],
        tgt=[tgt[k].strip() for k in kept],
        alignments=None if alignments is None else [alignments[k].strip() for k in kept],
        dropped=dropped,
    )
