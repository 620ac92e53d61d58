"""From attention weights to word alignments, alignment error rate and entropy.

Attention lives on SentencePiece pieces; gold alignments live on whitespace words. This module
bridges the two:

* ``word_groups`` finds which pieces make up each word (a piece starting with "▁" opens a word);
* ``merge_to_words`` turns piece attention (T, S) into word attention (T_w, S_w): **summed over
  the source pieces of a word, averaged over the target pieces of a word**, so every row is still a
  distribution over source words;
* ``hard_alignment`` picks links, ``aer`` / ``corpus_aer`` score them against gold links
  (Och & Ney, 2003), ``attention_entropy`` measures how peaked the rows are;
* ``analyse_attention`` builds the per layer/head table that ``nmt.plot`` and ``nmt.compare`` print.

A link is a pair ``(i, j)``: source word i, target word j, 0-based, as in the Pharaoh format "i-j".
AER only makes sense when the target rows are the *reference* translation the gold links were drawn
on (teacher-forced attention), not a free hypothesis.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from nmt.corpora.base import CorpusError
from nmt.errors import ConfigError

WORD_START = "\u2581"  # "▁", SentencePiece's mark for "a space came before this piece"
EOS_PIECE = "</s>"

Link = tuple[int, int]
Method = Literal["argmax", "src_argmax", "intersection"]


def _as_array(x: Any) -> np.ndarray:
    """A float64 numpy copy of an array or a torch tensor (any device or dtype)."""
    if hasattr(x, "detach"):  # a torch tensor; duck-typed so this module does not import torch
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


# --------------------------------------------------------------------------- pieces -> words


def word_groups(pieces: Sequence[str], eos: str = EOS_PIECE, keep_eos: bool = False) -> list[list[int]]:
    """Indices of the pieces that make up each whitespace word.

    A piece starting with "▁" opens a new word; any other piece continues the current one (the first
    piece opens a word whatever it looks like). This matches SentencePiece's real output, where
    punctuation after a space is a bare "▁" followed by the mark (``["▁", ","]`` is the word ",")
    and punctuation glued to a word is a plain continuation (``"bike."`` -> ``["▁bike", "."]``).

    The EOS piece is not a word: it is left out, or put in a group of its own when ``keep_eos``.

    Args:
        pieces: SentencePiece pieces of one sentence, optionally with EOS pieces.
        eos: the EOS piece's text.
        keep_eos: give each EOS piece its own group instead of leaving it out.

    Returns:
        One list of piece indices per word, in order; the groups never overlap.
    """
    groups: list[list[int]] = []
    opened = False  # whether the last group can take a continuation piece
    for k, piece in enumerate(pieces):
        if piece == eos:
            if keep_eos:
                groups.append([k])
            opened = False
        elif piece.startswith(WORD_START) or not opened:
            groups.append([k])
            opened = True
        else:
            groups[-1].append(k)
    return groups


def word_strings(pieces: Sequence[str], eos: str = EOS_PIECE) -> list[str]:
    """The words spelt by ``pieces`` (EOS left out): plot labels for word-level heatmaps."""
    return ["".join(pieces[k] for k in g).replace(WORD_START, "") or WORD_START for g in word_groups(pieces, eos)]


def merge_to_words(attn: Any, src_groups: Sequence[Sequence[int]], tgt_groups: Sequence[Sequence[int]]) -> np.ndarray:
    """Piece attention to word attention: **sum** over a source word's pieces, **mean** over a target word's.

    Summing source columns keeps the attention mass a word received; averaging target rows keeps each
    row a distribution. So if every row of ``attn`` sums to 1 and the source groups cover every column,
    every merged row sums to 1. Columns and rows in no group (e.g. EOS) are dropped without
    renormalising (``analyse_attention`` renormalises before merging).

    Shapes:
        attn: (T, S) array or tensor -> (T_w, S_w) float64 array, T_w = len(tgt_groups), S_w = len(src_groups).
    """
    a = _as_array(attn)
    if a.ndim != 2:
        raise ValueError(f"merge_to_words expects one (T, S) matrix, got shape {a.shape}; index layer and head first")
    cols = np.zeros((a.shape[0], len(src_groups)))  # (T, S_w); stays empty-safe for an empty sentence
    for i, g in enumerate(src_groups):
        cols[:, i] = a[:, list(g)].sum(axis=1)
    words = np.zeros((len(tgt_groups), len(src_groups)))  # (T_w, S_w)
    for j, g in enumerate(tgt_groups):
        words[j] = cols[list(g)].mean(axis=0)
    return words


# --------------------------------------------------------------------------- Pharaoh links


def parse_pharaoh(line: str, where: str = "") -> tuple[set[Link], set[Link]]:
    """Read one line of Pharaoh links: "i-j" is a sure link, "i?j" a possible one.

    Args:
        line: whitespace-separated links, source index first, 0-based.
        where: "file:line" to name in the error message.

    Returns:
        ``(sure, possible)`` with possible ⊇ sure, the convention of the AER formula.

    Raises:
        CorpusError: on a token that is not "i-j" or "i?j" with non-negative integers.
    """
    sure: set[Link] = set()
    possible: set[Link] = set()
    for token in line.split():
        sep = "-" if "-" in token else "?"
        left, _, right = token.partition(sep)
        if not (left.isdigit() and right.isdigit()):
            place = f"{where}: " if where else ""
            raise CorpusError(f"{place}bad alignment link {token!r}; write 'i-j' (sure) or 'i?j' (possible), 0-based")
        link = (int(left), int(right))
        possible.add(link)
        if sep == "-":
            sure.add(link)
    return sure, possible


def format_pharaoh(links: Iterable[Link], possible: Iterable[Link] = ()) -> str:
    """Write links as a Pharaoh line, sorted: "i-j" for ``links``, "i?j" for the rest of ``possible``."""
    sure = set(links)
    tokens = {link: f"{link[0]}-{link[1]}" for link in sure}
    tokens.update({link: f"{link[0]}?{link[1]}" for link in set(possible) - sure})
    return " ".join(tokens[link] for link in sorted(tokens))


# --------------------------------------------------------------------------- alignments and scores


def hard_alignment(attn: Any, method: Method = "argmax") -> set[Link]:
    """Links ``(i, j)`` (source i, target j) read off word attention.

    * "argmax": for each target word j, the source word i it attends to most (one link per row);
    * "src_argmax": for each source word i, the target word j that attends to it most;
    * "intersection": links found both ways (fewer, surer links).

    Shapes:
        attn: (T_w, S_w) rows = target words, columns = source words.
    """
    a = _as_array(attn)
    if a.ndim != 2 or 0 in a.shape:
        raise ValueError(f"hard_alignment expects a non-empty (T_w, S_w) matrix, got shape {a.shape}")
    tgt_to_src = {(int(i), j) for j, i in enumerate(a.argmax(axis=1))}
    src_to_tgt = {(i, int(j)) for i, j in enumerate(a.argmax(axis=0))}
    if method == "argmax":
        return tgt_to_src
    if method == "src_argmax":
        return src_to_tgt
    if method == "intersection":
        return tgt_to_src & src_to_tgt
    raise ConfigError(f"unknown alignment method {method!r}; use 'argmax', 'src_argmax' or 'intersection'")


@dataclass(frozen=True)
class AERCounts:
    """The four counts AER is made of; add them over sentences for a corpus AER."""

    a_and_s: int  # |A ∩ S|
    a_and_p: int  # |A ∩ P|
    a: int  # |A|
    s: int  # |S|

    def __add__(self, other: AERCounts) -> AERCounts:
        return AERCounts(self.a_and_s + other.a_and_s, self.a_and_p + other.a_and_p, self.a + other.a, self.s + other.s)

    @property
    def aer(self) -> float:
        """1 − (|A∩S| + |A∩P|) / (|A| + |S|); 0.0 when there is nothing to align and nothing predicted."""
        if self.a + self.s == 0:
            return 0.0
        return 1.0 - (self.a_and_s + self.a_and_p) / (self.a + self.s)


def aer_counts(predicted: Iterable[Link], sure: Iterable[Link], possible: Iterable[Link] | None = None) -> AERCounts:
    """Counts for one sentence. ``possible`` defaults to ``sure``; sure links always count as possible."""
    a, s = set(predicted), set(sure)
    p = s | set(possible or ())
    return AERCounts(len(a & s), len(a & p), len(a), len(s))


def aer(predicted: Iterable[Link], sure: Iterable[Link], possible: Iterable[Link] | None = None) -> float:
    """Alignment error rate (Och & Ney, 2003): 1 − (|A∩S| + |A∩P|) / (|A| + |S|), with P ⊇ S.

    0 is perfect. With sure links only (P = S) it is 1 − F1 of the predicted links.
    """
    return aer_counts(predicted, sure, possible).aer


def corpus_aer(
    predicted: Sequence[Iterable[Link]],
    sure: Sequence[Iterable[Link]],
    possible: Sequence[Iterable[Link] | None] | None = None,
) -> float:
    """AER of a corpus: the four counts are **summed over sentences**, then combined once.

    This is not the mean of per-sentence AERs: long sentences weigh more, as in Och & Ney.
    """
    if len(predicted) != len(sure) or (possible is not None and len(possible) != len(sure)):
        raise ValueError("corpus_aer needs one predicted, sure (and possible) link set per sentence")
    poss = possible if possible is not None else [None] * len(sure)
    total = AERCounts(0, 0, 0, 0)
    for a, s, p in zip(predicted, sure, poss, strict=True):
        total = total + aer_counts(a, s, p)
    return total.aer


def attention_entropy(attn: Any, normalise: bool = False) -> float:
    """Mean entropy of the attention rows, in nats (0 = one-hot, log S = uniform).

    Args:
        attn: weights whose last axis is the source; every other axis indexes rows.
        normalise: divide by log S, so 0 = one-hot and 1 = uniform whatever the source length.

    Shapes:
        attn: (..., T, S) -> a float averaged over every row.
    """
    a = _as_array(attn)
    rows = a.reshape(-1, a.shape[-1])  # (N, S)
    plogp = np.where(rows > 0, rows * np.log(np.where(rows > 0, rows, 1.0)), 0.0)  # 0·log 0 = 0
    mean = float(-plogp.sum(axis=1).mean())
    if normalise:
        size = a.shape[-1]
        return mean / math.log(size) if size > 1 else 0.0
    return mean


# --------------------------------------------------------------------------- analysis table


@dataclass(frozen=True)
class AlignedSentence:
    """One sentence for ``analyse_attention``.

    ``attention`` has the model's layout (L, h, T, S): rows are the target pieces plus the final EOS
    step, columns the source pieces plus the source EOS. ``src_pieces``/``tgt_pieces`` may include or
    omit that trailing "</s>". ``gold`` is the Pharaoh line drawn on the same target text.
    """

    attention: Any
    src_pieces: list[str]
    tgt_pieces: list[str]
    gold: str


def _without_eos(attn: np.ndarray, src: list[str], tgt: list[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """Drop the EOS row and column and renormalise each row over the real source pieces.

    The gold links have no EOS, and attention parked on the source EOS (common in Transformers) says
    nothing about which word aligns, so rows become distributions over real source pieces.

    Shapes: attn (L, h, T, S) -> (L, h, T', S'), T' = target pieces, S' = source pieces.
    """
    src = src[:-1] if src and src[-1] == EOS_PIECE else src
    tgt = tgt[:-1] if tgt and tgt[-1] == EOS_PIECE else tgt
    T, S = attn.shape[-2:]
    if T not in (len(tgt), len(tgt) + 1) or S not in (len(src), len(src) + 1):
        raise ValueError(
            f"attention is {T}x{S} (target x source) for {len(tgt)} target and {len(src)} source pieces; "
            "expected pieces (+1 for the EOS step) on each axis"
        )
    a = attn[..., : len(tgt), : len(src)]  # (L, h, T', S')
    total = a.sum(axis=-1, keepdims=True)  # (L, h, T', 1)
    return np.divide(a, total, out=np.zeros_like(a), where=total > 0), src, tgt


def _word_attention(sent: AlignedSentence, index: int) -> tuple[np.ndarray, set[Link], set[Link]]:
    """Word attention for every layer and head, plus the gold links. Shapes: -> (L, h, T_w, S_w)."""
    attn = _as_array(sent.attention)
    if attn.ndim != 4:
        raise ValueError(f"sentence {index}: attention must be (L, h, T, S), got shape {attn.shape}")
    attn, src, tgt = _without_eos(attn, list(sent.src_pieces), list(sent.tgt_pieces))
    src_groups, tgt_groups = word_groups(src), word_groups(tgt)
    sure, possible = parse_pharaoh(sent.gold, where=f"gold alignment of sentence {index}")
    if any(i >= len(src_groups) or j >= len(tgt_groups) for i, j in possible):
        raise ValueError(
            f"sentence {index}: a gold link falls outside {len(src_groups)} source x {len(tgt_groups)} target "
            "words; give the pieces of the same text the links were drawn on"
        )
    L, h = attn.shape[:2]
    words = np.stack(
        [np.stack([merge_to_words(attn[layer, k], src_groups, tgt_groups) for k in range(h)]) for layer in range(L)]
    )  # (L, h, T_w, S_w)
    return words, sure, possible


def _score(
    per_sentence: Sequence[tuple[np.ndarray, set[Link], set[Link]]], layer: int, head: int | str, method: Method
) -> tuple[float, float]:
    """Corpus AER and mean row entropy of one layer's head (or "avg", the heads' mean attention)."""
    counts, entropy_sum, n_rows = AERCounts(0, 0, 0, 0), 0.0, 0
    for words, sure, possible in per_sentence:
        w = words[layer].mean(axis=0) if head == "avg" else words[layer, head]  # (T_w, S_w)
        counts = counts + aer_counts(hard_alignment(w, method), sure, possible)
        entropy_sum += attention_entropy(w) * w.shape[0]
        n_rows += w.shape[0]
    return counts.aer, entropy_sum / n_rows


def analyse_attention(
    sentences: Sequence[AlignedSentence], model: str, method: Method = "argmax"
) -> list[dict[str, Any]]:
    """Corpus AER and mean entropy for every (layer, head) and every layer's head average.

    Per sentence: the EOS row/column is dropped and rows renormalised (see ``_without_eos``), pieces
    are merged to words (``merge_to_words``), then links come from ``hard_alignment(method)``. The
    "avg" head averages the heads' word attention before aligning (it is not a mean of AERs); it is
    listed only when a layer has more than one head. Entropy is in nats over source words, averaged
    over all target words of all sentences.

    Returns:
        Rows ``{"model", "layer", "head", "aer", "entropy"}``; layer and head count from 1, head is
        "avg" for the head average. JSON-ready (see ``table_json``).
    """
    if not sentences:
        raise ValueError("analyse_attention needs at least one sentence")
    per_sentence = [_word_attention(s, n) for n, s in enumerate(sentences)]
    shapes = {words.shape[:2] for words, _, _ in per_sentence}
    if len(shapes) != 1:
        raise ValueError(f"every sentence needs the same layers and heads, got (L, h) in {sorted(shapes)}")
    L, h = shapes.pop()
    heads: list[int | str] = list(range(h)) + (["avg"] if h > 1 else [])
    rows = []
    for layer in range(L):
        for head in heads:
            score, entropy = _score(per_sentence, layer, head, method)
            label = head if head == "avg" else int(head) + 1
            rows.append({"model": model, "layer": layer + 1, "head": label, "aer": score, "entropy": entropy})
    return rows


def _sort_key(row: dict[str, Any]) -> tuple[float, float, str]:
    return (row["aer"], row["entropy"], str(row["model"]))


def table_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table sorted by AER (then entropy); one row, the lowest AER of all, is marked "best".

    With several models, each model's own lowest row is marked "lowest of <model>" so that no table
    claims two winners.
    """
    lines = [
        "| model | layer | head | AER ↓ | entropy (nats) | |",
        "|---|---:|---:|---:|---:|---|",
    ]
    seen: set[str] = set()
    for row in sorted(rows, key=_sort_key):
        model = str(row["model"])
        mark = "" if model in seen else ("**best**" if not seen else f"lowest of {model}")
        seen.add(model)
        lines.append(
            f"| {row['model']} | {row['layer']} | {row['head']} | {row['aer']:.3f} | {row['entropy']:.3f} | {mark} |"
        )
    return "\n".join(lines) + "\n"


def table_json(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The table as a JSON-ready dict: rows sorted like the Markdown table, the one best row ("best",
    None without rows) and the lowest row of each model ("best_per_model")."""
    ordered = sorted(rows, key=_sort_key)
    per_model: dict[str, dict[str, Any]] = {}
    for row in ordered:
        per_model.setdefault(str(row["model"]), row)
    return {
        "metric": "AER (lower is better); entropy in nats over source words",
        "rows": ordered,
        "best": ordered[0] if ordered else None,
        "best_per_model": per_model,
    }
