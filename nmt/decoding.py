"""One way to batch sentences for decoding, one truncation rule, one way to decode and score.

Every path that translates a list of sources goes through here: nmt.train's test split (and its
val check of averaged weights), ``nmt.evaluate``, ``nmt.compare``, ``nmt.length_penalty``,
``nmt.bench``, the attention maps and the Python API (``Translator.decode`` / ``Translator.score``).

``max_tokens`` has one meaning everywhere: **padded token positions per batch, counted over the rows
the model processes**. In training a row is a sentence pair and its length the longer side (pairs ×
longest side, ``nmt.sampler``); in decoding a row is one beam of one sentence, so a batch of n
sentences of at most S source pieces (EOS included) decoded with K beams costs n · K · S. A sentence
that alone exceeds the budget is a batch of its own.

Truncation: sources longer than ``max_len`` pieces (EOS not counted) are cut there
(``cut_sources``), never dropped, in every scoring path; only training pairs are filtered by
length (``nmt.data``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

from nmt.batch import Batch
from nmt.metrics import score_texts
from nmt.models.base import Seq2Seq, eval_mode
from nmt.search import DecodeSettings, Hypothesis, decode


class SentenceTranslator(Protocol):
    """What ``decode_and_score`` needs of a translator; ``nmt.api.Translator`` is one.

    A protocol rather than an import: the API is built on this module, never the other way round.
    """

    max_len: int | None

    def decode(
        self, sentences: Sequence[str], settings: DecodeSettings, max_tokens: int = ..., *, progress: bool = ...
    ) -> list[list[Any]]:
        """Per sentence, its ``nmt.api.Translation``s best first (each has ``.text`` and ``.truncated``)."""
        ...


__all__ = [
    "Scored",
    "SentenceTranslator",
    "cut_sources",
    "decode_and_score",
    "decode_batches",
    "decode_ids",
    "decode_timing",
    "rows_per_sentence",
]


def rows_per_sentence(settings: DecodeSettings) -> int:
    """Rows the model processes per sentence: the beam size for beam search, else one."""
    return settings.beam_size if settings.strategy == "beam" else 1


def decode_batches(lengths: Sequence[int], max_tokens: int, rows: int = 1) -> list[list[int]]:
    """Sentence indices in length-sorted batches of at most ``max_tokens`` padded positions.

    Sentences are sorted by length (ties keep their order), then cut greedily so that
    ``len(batch) · rows · longest length`` stays within ``max_tokens``; a sentence over the budget
    alone is a batch of one. Callers put results back in input order with the indices.

    Args:
        lengths: the length of each sentence as batched (pieces + EOS), or of each pair's longer side.
        max_tokens: the budget (see the module docstring); >= 1.
        rows: rows per sentence (beams; 1 for greedy, sampling and teacher forcing).
    """
    if max_tokens < 1 or rows < 1:
        raise ValueError(f"max_tokens={max_tokens} and rows={rows} must be >= 1")
    order = sorted(range(len(lengths)), key=lambda k: lengths[k])
    batches: list[list[int]] = []
    current: list[int] = []
    for k in order:  # sorted: the newest sentence is the longest of its batch
        if current and (len(current) + 1) * rows * lengths[k] > max_tokens:
            batches.append(current)
            current = []
        current.append(k)
    if current:
        batches.append(current)
    return batches


def cut_sources(ids: Sequence[Sequence[int]], max_len: int | None) -> tuple[list[list[int]], list[bool]]:
    """The truncation rule: each source cut to its first ``max_len`` pieces (None: never); and which were cut."""
    if max_len is None:
        return [list(x) for x in ids], [False] * len(ids)
    return [list(x[:max_len]) for x in ids], [len(x) > max_len for x in ids]


def decode_ids(
    model: Seq2Seq,
    ids: Sequence[Sequence[int]],
    settings: DecodeSettings,
    max_tokens: int = 4096,
    need_weights: bool = False,
    progress: bool = False,
) -> list[list[Hypothesis]]:
    """Decode source piece ids (without EOS) in ``decode_batches``; hypotheses in input order.

    With sampling and a seed, batch number i is sampled with seed + i, so sentences in different
    batches do not share one random stream. ``progress`` shows a tqdm bar (on a terminal).

    Shapes: each batch's src, src_mask (B, S) with B · K · S <= max_tokens (or B = 1).
    """
    device = next(model.parameters()).device
    out: list[list[Hypothesis] | None] = [None] * len(ids)
    seeded = settings.strategy == "sample" and settings.seed is not None
    batches = decode_batches([len(x) + 1 for x in ids], max_tokens, rows_per_sentence(settings))
    bar = tqdm(total=len(ids), desc="translating", unit="sent", disable=None if progress else True)
    with eval_mode(model), torch.inference_mode(), bar:
        for number, chunk in enumerate(batches):
            batch = Batch.from_ids([ids[k] for k in chunk], None, chunk, model.pad_id, model.bos_id, model.eos_id)
            batch_settings = replace(settings, seed=settings.seed + number) if seeded else settings
            hyps = decode(model, batch.src.to(device), batch.src_mask.to(device), batch_settings, need_weights)
            for k, h in zip(chunk, hyps, strict=True):
                out[k] = h
            bar.update(len(chunk))
    return out  # type: ignore[return-value]


def decode_timing(sentences: int, seconds: float) -> dict:
    """How long decoding took: sentences, wall seconds and sentences per second."""
    return {
        "sentences": sentences,
        "wall_time_s": round(seconds, 3),
        "sentences_per_s": round(sentences / max(seconds, 1e-9), 2),
    }


@dataclass
class Scored:
    """What ``decode_and_score`` returns: per sentence its hypotheses (best first), the best texts, the scores.

    ``scores`` holds BLEU, chrF and lowercased BLEU with their sacreBLEU signatures
    (``nmt.metrics.score_texts``), the timing (``decode_timing``), ``decode`` (the settings),
    ``max_tokens``, ``max_len`` and ``truncated_sources``.
    """

    translations: list[list[Any]]  # per sentence, its nmt.api.Translation hypotheses, best first
    texts: list[str]
    scores: dict


def decode_and_score(
    translator: SentenceTranslator,
    sources: Sequence[str],
    references: Sequence[str],
    settings: DecodeSettings,
    max_tokens: int = 4096,
    progress: bool = False,
) -> Scored:
    """Translate ``sources`` with ``translator`` (its preprocessing, truncation and batching) and score the
    best hypothesis of each against ``references``, line by line.

    Raises:
        ValueError: ``sources`` and ``references`` differ in length.
    """
    if len(sources) != len(references):
        raise ValueError(f"{len(sources)} sources but {len(references)} references: they must pair line by line")
    start = time.perf_counter()
    translations = translator.decode(sources, settings, max_tokens, progress=progress)
    seconds = time.perf_counter() - start
    texts = [t[0].text for t in translations]
    scores = {
        **score_texts(texts, list(references)),
        **decode_timing(len(texts), seconds),
        "decode": asdict(settings),
        "max_tokens": int(max_tokens),
        "max_len": translator.max_len,
        "truncated_sources": sum(t[0].truncated for t in translations),
    }
    return Scored(translations, texts, scores)
