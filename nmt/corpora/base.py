"""Types shared by every corpus: a parallel split and a corpus of named splits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from nmt.errors import NmtError


class CorpusError(NmtError):
    """Bad corpus input. The message is one line naming the file and the fix."""


@dataclass(frozen=True)
class ParallelSplit:
    """Line-aligned sentence pairs, with optional gold word alignments.

    ``alignments[k]`` is a Pharaoh string ("0-0 1-2 ...", source word i - target word j,
    words split on whitespace) for pair k, or the whole list is None.
    """

    name: str
    src: list[str]
    tgt: list[str]
    alignments: list[str] | None = None

    def __post_init__(self) -> None:
        if len(self.src) != len(self.tgt):
            raise CorpusError(f"split {self.name!r}: {len(self.src)} source vs {len(self.tgt)} target lines")
        if self.alignments is not None and len(self.alignments) != len(self.src):
            raise CorpusError(f"split {self.name!r}: {len(self.alignments)} alignments for {len(self.src)} pairs")

    def __len__(self) -> int:
        return len(self.src)


@dataclass(frozen=True)
class ParallelCorpus:
    """A named corpus: ``splits`` has at least "train", "val" and "test" (more test sets may follow)."""

    name: str
    src_lang: str
    tgt_lang: str
    splits: dict[str, ParallelSplit] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = {"train", "val", "test"} - set(self.splits)
        if missing:
            raise CorpusError(f"corpus {self.name!r} lacks the split(s) {sorted(missing)}")

    def fingerprint(self, split: str = "train") -> str:
        """SHA-256 of one split's text and language pair: the cache key for what is derived from it."""
        header = f"{self.src_lang}\t{self.tgt_lang}\n"
        part = self.splits[split]
        streamed = getattr(part.src, "pairs", None)  # nmt.corpora.streaming: one pass, remembered
        if streamed is not None:
            return streamed.fingerprint(header)
        h = hashlib.sha256(header.encode())
        for s, t in zip(part.src, part.tgt, strict=True):
            h.update(s.encode())
            h.update(b"\t")
            h.update(t.encode())
            h.update(b"\n")
        return h.hexdigest()
