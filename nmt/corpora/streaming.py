"""A training split read from its files as a stream, for corpora larger than memory (``data=custom``).

``StreamedPairs`` reads two line-aligned files (or one TSV) line by line, plain or gzip, and yields
the same pairs the in-memory readers keep: outer whitespace stripped, pairs with an empty side
dropped (counted, with one warning per pass). A ``ParallelSplit`` over it (see ``streamed_split``)
holds two ``StreamedSide`` views instead of lists, so the sentences are never all in memory: the
vocabulary samples them, the fingerprint hashes them and the store encodes them, each in one pass.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, overload

from nmt.corpora.base import CorpusError, ParallelSplit
from nmt.corpora.reading import GZIP_MAGIC

log = logging.getLogger(__name__)


def _open(path: Path) -> IO[bytes]:
    if not path.is_file():
        raise CorpusError(f"{path}: no such file; check the path (a relative path is read from the launch directory)")
    with path.open("rb") as f:
        gz = f.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if gz else path.open("rb")


def stream_lines(path: str | Path) -> Iterator[str]:
    """The file's lines without their "\\n" / "\\r\\n" (and a leading byte-order mark), read one by one.

    Split on "\\n" only, like ``nmt.corpora.reading.read_lines``; invalid UTF-8 raises a
    ``CorpusError`` naming the line.
    """
    path = Path(path).expanduser()
    with _open(path) as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise CorpusError(
                    f"{path}:{number}: invalid UTF-8 at byte {err.start} of the line; re-encode the file as UTF-8"
                ) from None
            if number == 1:
                line = line.removeprefix("\ufeff")
            yield line.removesuffix("\n").removesuffix("\r")


class StreamedPairs:
    """The kept (source, target) pairs of two line-aligned files or one TSV, read anew on each pass.

    Args:
        where: how messages name the split, e.g. "train (corpus/train.en / corpus/train.de)".
        src, tgt: the two files; or
        tsv: one file of source<TAB>target lines.
    """

    def __init__(self, where: str, src: Path | None = None, tgt: Path | None = None, tsv: Path | None = None) -> None:
        if (tsv is None) == (src is None or tgt is None):
            raise ValueError("StreamedPairs needs src and tgt, or tsv")
        self.where, self.src, self.tgt, self.tsv = where, src, tgt, tsv
        self._count: int | None = None
        self._digests: dict[str, str] = {}
        self._warned = False

    def _raw(self) -> Iterator[tuple[str, str]]:
        if self.tsv is not None:
            for number, line in enumerate(stream_lines(self.tsv), start=1):
                if not line.strip():
                    yield "", ""
                    continue
                if line.count("\t") != 1:
                    raise CorpusError(
                        f"{self.tsv}:{number}: expected exactly one tab (source<TAB>target), found "
                        f"{line.count(chr(9))}; fix the line or give the split as two files (src, tgt)"
                    )
                s, t = line.split("\t")
                yield s, t
            return
        n = 0
        for n, (s, t) in enumerate(itertools.zip_longest(stream_lines(self.src), stream_lines(self.tgt)), start=1):
            if s is None or t is None:
                raise CorpusError(
                    f"{self.src} and {self.tgt} differ in length from line {n} on; parallel files must be line-aligned"
                )
            yield s, t

    def __iter__(self) -> Iterator[tuple[str, str]]:
        dropped = total = 0
        for raw_src, raw_tgt in self._raw():
            total += 1
            s, t = raw_src.strip(), raw_tgt.strip()
            if s and t:
                yield s, t
            else:
                dropped += 1
        if dropped and not self._warned:
            self._warned = True
            log.warning("dropped %d of %d pairs with an empty side in %s", dropped, total, self.where)
        if total == dropped:
            raise CorpusError(f"split {self.where}: every pair has an empty side; give files with text on both sides")

    def __len__(self) -> int:
        """The number of kept pairs (one pass over the files the first time)."""
        if self._count is None:
            self._count = sum(1 for _ in self)
        return self._count

    def fingerprint(self, header: str) -> str:
        """``ParallelCorpus.fingerprint`` of these pairs, computed in one pass and remembered."""
        if header not in self._digests:
            h, count = hashlib.sha256(header.encode()), 0
            for s, t in self:
                h.update(f"{s}\t{t}\n".encode())
                count += 1
            self._digests[header], self._count = h.hexdigest(), count  # len() then needs no pass of its own
        return self._digests[header]


class StreamedSide(Sequence[str]):
    """One side of ``StreamedPairs`` as a read-only sequence of lines (iterate it: indexing is a scan)."""

    def __init__(self, pairs: StreamedPairs, side: int) -> None:
        self.pairs, self.side = pairs, side

    def __iter__(self) -> Iterator[str]:
        return (pair[self.side] for pair in self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    @overload
    def __getitem__(self, k: int) -> str: ...
    @overload
    def __getitem__(self, k: slice) -> list[str]: ...
    def __getitem__(self, k: int | slice) -> str | list[str]:
        if isinstance(k, slice):
            return list(self)[k]
        if k < 0:
            k += len(self)
        for line in itertools.islice(self, k, None):
            return line
        raise IndexError(f"line {k} is past the end of {self.pairs.where}")


def streamed_split(name: str, pairs: StreamedPairs) -> ParallelSplit:
    """A split whose ``src`` and ``tgt`` stream from ``pairs`` instead of holding lists."""
    return ParallelSplit(name=name, src=StreamedSide(pairs, 0), tgt=StreamedSide(pairs, 1))  # type: ignore[arg-type]
