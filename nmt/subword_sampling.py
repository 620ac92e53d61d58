"""Subword regularisation (Kudo, 2018): each epoch cuts every training sentence into pieces anew.

A unigram SentencePiece model gives every way of cutting a sentence into its pieces a probability
P(cut). Training normally sees one cut, the most probable. With ``data.sampling={alpha: …}`` each
epoch draws a cut from

    Q(cut | sentence) ∝ P(cut) ** alpha

over all cuts: alpha near 0 makes every cut alike, alpha = 1 is the model's own distribution, and a
large alpha comes back to the best cut. The model then sees "Fahrrad" as one piece in one epoch and
as "Fahr" + "rad" in another, which regularises it the way dropout does. Validation, test and every
command that decodes use the best cut.

On Multi30k's 8,000-piece vocabulary, alpha 0.3 changes the cut of 75% of the training sentences
in an epoch and makes them 12% longer; alpha 0.5: 38% and 3% (docs/results/multi30k-recipe/,
round 29). Each epoch's batches are cut from that epoch's drawn lengths, in as many batches of the
same sizes as the best cut gives (``TokenBucketSampler``'s ``epoch_lengths``): batches stay free of
extra padding and their number fixed, and cost about that much more than ``data.max_tokens``.

The cut of pair k in epoch e depends only on (seed, e, k), so an uninterrupted run, a resumed one,
each DDP rank and each DataLoader worker cut a sentence the same way. (SentencePiece can draw the
same cuts, ``encode(enable_sampling=True)``, but from a generator that cannot be seeded per draw, so
``UnigramCuts`` draws them itself.)
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sentencepiece as spm

from nmt.errors import ConfigError
from nmt.vocab import Vocab

_NOT_A_PREFIX = (-1, 0.0)
_SPACE = "\u2581"  # SentencePiece's "▁"
_WORDS = re.compile(f"{_SPACE}[^{_SPACE}]*|[^{_SPACE}]+")  # "▁" and what follows, up to the next
_LISTED = 64  # a word with at most this many cuts keeps the list of them
_KEPT_WORDS = 500_000


@dataclass(frozen=True)
class SubwordSampling:
    """``data.sampling``: the smoothing ``alpha`` of Q(cut) ∝ P(cut) ** alpha."""

    alpha: float

    @classmethod
    def from_config(cls, value: Mapping[str, Any] | None, model_type: str) -> SubwordSampling | None:
        """``data.sampling`` checked against the vocabulary's type; None (off) stays None.

        Raises:
            ConfigError: a key other than alpha, an alpha that is not a number > 0, or a vocabulary
                that is not a unigram model.
        """
        if value is None:
            return None
        if not isinstance(value, Mapping) or set(value) != {"alpha"}:
            raise ConfigError(f"data.sampling={value!r}: give null, or {{alpha: 0.3}} (the one key)")
        alpha = value["alpha"]
        if model_type != "unigram":
            raise ConfigError(
                f"data.sampling draws from a unigram model's cuts, not data.vocab.model_type={model_type}'s; "
                "set data.vocab.model_type=unigram or data.sampling=null"
            )
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < math.inf:
            raise ConfigError(f"data.sampling.alpha={alpha!r} must be a number > 0 (e.g. 0.3)")
        return cls(float(alpha))


class _WordCuts:
    """The cuts of one word ("▁" and the characters up to the next "▁") and a draw of one.

    ``ends[j]`` lists the pieces ending at position j as (start, id, log p). A word with at most
    ``_LISTED`` cuts keeps them all with their cumulative Q, so a draw is one lookup; a longer one
    is drawn by forward filtering, backward sampling (``UnigramCuts``).
    """

    def __init__(self, ends: list[list[tuple[int, int, float]]], alpha: float) -> None:
        n = len(ends) - 1
        self.ends, self.alpha = ends, alpha
        self.forward = [0.0] * (n + 1)  # A(j)
        count = [1] + [0] * n  # cuts of the first j characters
        for j in range(1, n + 1):
            scores = [self.forward[i] + alpha * logp for i, _, logp in ends[j]]
            top = max(scores)
            self.forward[j] = top + math.log(sum(math.exp(v - top) for v in scores))
            count[j] = sum(count[i] for i, _, _ in ends[j])
        self.listed: list[list[int]] | None = None
        if count[n] <= _LISTED:
            weighted = self._every_cut(n)
            self.listed = [ids for ids, _ in weighted]
            self.cumulative = list(itertools.accumulate(math.exp(w - self.forward[n]) for _, w in weighted))

    def _every_cut(self, j: int) -> list[tuple[list[int], float]]:
        """Each cut of the first j characters with its alpha · log P."""
        if j == 0:
            return [([], 0.0)]
        return [
            ([*ids, piece], w + self.alpha * logp) for i, piece, logp in self.ends[j] for ids, w in self._every_cut(i)
        ]

    def draw(self, rng: random.Random) -> list[int]:
        if self.listed is not None:
            return self.listed[bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])]
        ids, j = [], len(self.ends) - 1
        while j > 0:  # backward: the piece ending at j, with its share of A(j)
            weights = [math.exp(self.forward[i] + self.alpha * logp - self.forward[j]) for i, _, logp in self.ends[j]]
            j, piece, _ = rng.choices(self.ends[j], weights=weights)[0]
            ids.append(piece)
        return ids[::-1]

    def best(self) -> list[int]:
        """The most probable cut: the forward pass with max in place of log Σ exp."""
        n = len(self.ends) - 1
        score, back = [0.0] * (n + 1), [(0, 0)] * (n + 1)
        for j in range(1, n + 1):
            score[j], back[j] = max((score[i] + logp, (i, piece)) for i, piece, logp in self.ends[j])
        ids, j = [], n
        while j > 0:
            j, piece = back[j]
            ids.append(piece)
        return ids[::-1]


class UnigramCuts:
    """Every cut of a sentence into a unigram model's pieces, and a draw of one cut.

    A cut x = (x_1, …, x_m) of the normalised sentence (SentencePiece's: "▁" marks a space) has
    log P(x) = Σ_i log p(x_i), with log p the model's piece scores. ``draw`` samples from
    Q(x) ∝ P(x) ** alpha over every cut by forward filtering, backward sampling on the lattice of
    pieces, position j being the first j characters:

        forward:   A(0) = 0,  A(j) = log Σ_{piece x ending at j} exp(A(start(x)) + alpha · log p(x))
        backward:  from j = n, take the piece x ending at j with probability
                   exp(A(start(x)) + alpha · log p(x) − A(j)), then go on from j = start(x).

    No piece has a "▁" but at its start (SentencePiece splits at whitespace before training), so a
    cut of the sentence is a cut of each word and Q is the product of the words' Q: each word's
    lattice is built once and kept, and most words, having few cuts, keep the list of them.

    SentencePiece samples this way too (``enable_sampling``), but from a generator that cannot be
    seeded per draw; here the caller's ``random.Random`` is the only source of chance. The lattice
    is SentencePiece's: a character that starts no one-character piece gets an unknown node scored
    10 below the lowest piece, and consecutive unknowns come out as one (tests/test_subword_sampling.py
    checks that the best path is ``encode``'s and the draws' frequencies Q's).
    """

    def __init__(self, processor: spm.SentencePieceProcessor, alpha: float) -> None:
        self.normalize, self.alpha = processor.normalize, float(alpha)
        self.pieces: dict[str, tuple[int, float]] = {}  # piece → (id, log p)
        for i in range(processor.get_piece_size()):
            skip = processor.is_control(i) or processor.is_unknown(i) or processor.is_unused(i) or processor.is_byte(i)
            if not skip:
                self.pieces[processor.id_to_piece(i)] = (i, processor.get_score(i))
        # Every beginning of a piece → the piece's (id, log p), or None for a beginning that is no piece:
        # the scan from a position stops at the first string that begins no piece.
        self.prefixes: dict[str, tuple[int, float] | None] = {
            piece[:n]: self.pieces.get(piece[:n]) for piece in self.pieces for n in range(1, len(piece) + 1)
        }
        self.unk_id = processor.unk_id()
        self.unk_score = min(score for _, score in self.pieces.values()) - 10.0
        self.by_word = not any(_SPACE in piece[1:] for piece in self.pieces)
        self._words: dict[str, _WordCuts] = {}

    def _ending_at(self, text: str) -> list[list[tuple[int, int, float]]]:
        """ends[j]: every piece of ``text`` ending at position j, as (start, id, log p)."""
        n = len(text)
        ends: list[list[tuple[int, int, float]]] = [[] for _ in range(n + 1)]
        for i in range(n):
            for j in range(i + 1, n + 1):
                found = self.prefixes.get(text[i:j], _NOT_A_PREFIX)
                if found is _NOT_A_PREFIX:
                    break
                if found is not None:
                    ends[j].append((i, *found))
            if not ends[i + 1] or ends[i + 1][-1][0] != i:  # no one-character piece starts at i
                ends[i + 1].append((i, self.unk_id, self.unk_score))
        return ends

    def _word_cuts(self, sentence: str) -> list[_WordCuts]:
        text = self.normalize(sentence)
        words = _WORDS.findall(text) if self.by_word else [text] if text else []
        if len(self._words) > _KEPT_WORDS:  # a bound for large corpora; Multi30k has ~30,000 words a side
            self._words.clear()
        for word in words:
            if word not in self._words:
                self._words[word] = _WordCuts(self._ending_at(word), self.alpha)
        return [self._words[word] for word in words]

    def _merge_unknowns(self, ids: list[int]) -> list[int]:
        return [x for k, x in enumerate(ids) if not (x == self.unk_id and k and ids[k - 1] == self.unk_id)]

    def draw(self, sentence: str, rng: random.Random) -> list[int]:
        """One cut of ``sentence`` from Q(x) ∝ P(x) ** alpha, as piece ids."""
        return self._merge_unknowns([piece for word in self._word_cuts(sentence) for piece in word.draw(rng)])

    def best(self, sentence: str) -> list[int]:
        """The most probable cut (what ``encode`` gives)."""
        return self._merge_unknowns([piece for word in self._word_cuts(sentence) for piece in word.best()])


class SampledCuts:
    """Draws the pieces of training pair k for an epoch: ``ids(k, epoch)`` → (source ids, target ids).

    Args:
        src, tgt: the training split's raw lines (random access: a list, not a stream).
        vocab: the run's vocabulary (a unigram model: ``Vocab.src_model`` and ``tgt_model``).
        sampling: the settings.
        seed: the run's seed (the cut of pair k in epoch e depends on (seed, e, k) only).
        max_len: a drawn cut longer than this on either side is replaced by the best cut, which the
            training split kept because it fits.
    """

    def __init__(
        self,
        src: Sequence[str],
        tgt: Sequence[str],
        vocab: Vocab,
        sampling: SubwordSampling,
        seed: int,
        max_len: int,
    ) -> None:
        self.src, self.tgt = src, tgt
        self.src_cuts = UnigramCuts(vocab.src_model, sampling.alpha)
        self.tgt_cuts = self.src_cuts if vocab.joint else UnigramCuts(vocab.tgt_model, sampling.alpha)
        self.seed, self.max_len = int(seed), int(max_len)

    def ids(self, k: int, epoch: int) -> tuple[list[int], list[int]] | None:
        """Pair ``k``'s sampled pieces in ``epoch``, or None when a side came out longer than ``max_len``."""
        rng = random.Random(f"{self.seed}/{epoch}/{k}")  # a str seed is hashed with SHA-512: the same in every process
        src, tgt = self.src_cuts.draw(self.src[k], rng), self.tgt_cuts.draw(self.tgt[k], rng)
        if len(src) > self.max_len or len(tgt) > self.max_len:
            return None
        return src, tgt
