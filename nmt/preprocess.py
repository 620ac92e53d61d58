"""The text conventions a corpus was written in, applied to raw input before the model reads it.

A model trained on the toy corpus has only ever seen lower-cased text with punctuation as its own
token ("the man sees the dog ."); given "The man sees the dog." it reads pieces it never saw and
translates garbage. Where a corpus has such a known preprocessing, ``Translator`` (and so
``nmt.translate``, ``nmt.load`` and the explorer) applies it to every source sentence; the
``Translation.source`` stays as typed and ``Translation.model_source`` shows what the model read.

Corpora without a known preprocessing (Multi30k: raw, cased text; the user's own files) get
``None`` here: their input is passed on unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Preprocessing", "for_data", "summary"]

_PUNCT = re.compile(r"\s*([.,?!;:])\s*")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Preprocessing:
    """Lower-casing and punctuation splitting, as a corpus's text was made.

    Args:
        name: what to call it in messages, e.g. "toy (en)".
        lowercase: lower-case every word except those in ``keep``.
        keep: words written as they are in the corpus (English "I").
        split_punctuation: make ". , ? ! ; :" tokens of their own, separated by single spaces.
    """

    name: str
    lowercase: bool
    keep: frozenset[str] = frozenset()
    split_punctuation: bool = True

    def apply(self, text: str) -> str:
        """The text as the corpus would have written it (blank text stays blank)."""
        if self.split_punctuation:
            text = _PUNCT.sub(r" \1 ", text)
        words = _SPACES.split(text.strip())
        if self.lowercase:
            keep = {w.lower(): w for w in self.keep}
            words = [keep.get(w.lower(), w.lower()) for w in words]
        return " ".join(w for w in words if w)

    def changes(self, text: str) -> bool:
        """Whether ``apply`` changes more than the spacing of ``text``."""
        return self.apply(text) != " ".join(text.split())


def for_data(data: Mapping[str, Any] | None) -> Preprocessing | None:
    """The known preprocessing of a run's data config (``data.name``, ``data.src_lang``), or None.

    The toy corpus (``nmt.corpora.toy``): punctuation is its own token on both sides; English is
    lower-case except "I"; German keeps its capitalised nouns, so German input is only split.
    """
    if not data or data.get("name") != "toy":
        return None
    src = str(data.get("src_lang", "en"))
    if src == "en":
        return Preprocessing("toy (en: lower-cased except 'I', punctuation split)", True, frozenset({"I"}))
    return Preprocessing(f"toy ({src}: punctuation split)", False)


def summary(pre: Preprocessing, sources: list[str]) -> str | None:
    """One line saying how many sentences were changed by ``pre`` and the first one, or None if none were."""
    changed = [s for s in sources if s.strip() and pre.changes(s)]
    if not changed:
        return None
    first = changed[0] if len(changed[0]) <= 60 else changed[0][:57] + "..."
    return (
        f"{len(changed)} of {len(sources)} sentences did not look like the training text and were rewritten "
        f"as {pre.name} (first: {first!r} -> {pre.apply(changed[0])!r})"
    )
