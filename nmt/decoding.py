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

import multiprocessing
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

from nmt.batch import Batch
from nmt.errors import ConfigError, is_count
from nmt.metrics import score_texts
from nmt.models.base import Seq2Seq, eval_mode
from nmt.search import DecodeSettings, Hypothesis, decode


class SentenceTranslator(Protocol):
    """What ``decode_and_score`` needs of a translator; ``nmt.api.Translator`` is one.

    A protocol rather than an import: the API is built on this module, never the other way round.
    """

    max_len: int | None

    def decode(
        self,
        sentences: Sequence[str],
        settings: DecodeSettings,
        max_tokens: int = ...,
        *,
        progress: bool = ...,
        workers: int = ...,
    ) -> list[list[Any]]:
        """Per sentence, its ``nmt.api.Translation``s best first (each has ``.text`` and ``.truncated``)."""
        ...


__all__ = [
    "Scored",
    "SentenceTranslator",
    "check_workers",
    "cut_sources",
    "decode_and_score",
    "decode_batches",
    "decode_ids",
    "decode_timing",
    "rows_per_sentence",
]


def check_workers(workers: Any, device: torch.device | str | None = None) -> int:
    """``workers`` as an int >= 1, or a one-line ``ConfigError``: a whole number, and 1 unless the
    model is on the CPU (``device``: the model's, when known; None checks the value only)."""
    try:
        count = int(workers)
    except (TypeError, ValueError):
        count = 0
    if count < 1 or str(count) != str(workers).strip():
        raise ConfigError(f"workers={workers}: give the number of decoding processes, a whole number >= 1")
    if count > 1 and device is not None and str(device).split(":")[0] != "cpu":
        raise ConfigError(f"workers={count} decodes in CPU processes, but the model is on {device}: use workers=1")
    return count


def check_max_tokens(max_tokens: Any, key: str = "max_tokens", example: str = "e.g. 4096") -> int:
    """The decoding batch budget ``key`` as an int >= 1, or a one-line ``ConfigError`` naming it (and
    ending with ``example``, the fix to suggest).

    Commands call it before loading a run, so that ``max_tokens=0`` fails at once, not after the load.
    """
    if not is_count(max_tokens):
        raise ConfigError(
            f"{key}={max_tokens}: give the batch budget in padded token positions per batch, a whole number >= 1, "
            f"{example}"
        )
    return max_tokens


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
    workers: int = 1,
) -> list[list[Hypothesis]]:
    """Decode source piece ids (without EOS) in ``decode_batches``; hypotheses in input order.

    With sampling and a seed, batch number i is sampled with seed + i, so sentences in different
    batches do not share one random stream. ``progress`` shows a tqdm bar (on a terminal).

    ``workers`` > 1 decodes the batches in that many processes (CPU models only), each with its share
    of torch's threads (at least one): on a small CPU one thread per process keeps every core busy
    where a second thread in one process buys little. The hypotheses are the same as with one.

    Shapes: each batch's src, src_mask (B, S) with B · K · S <= max_tokens (or B = 1).
    """
    workers = check_workers(workers, next(model.parameters()).device)
    out: list[list[Hypothesis] | None] = [None] * len(ids)
    batches = decode_batches([len(x) + 1 for x in ids], max_tokens, rows_per_sentence(settings))
    jobs = [(number, chunk, [ids[k] for k in chunk]) for number, chunk in enumerate(batches)]
    bar = tqdm(total=len(ids), desc="translating", unit="sent", disable=None if progress else True)
    with eval_mode(model), torch.inference_mode(), bar:
        if workers > 1 and len(jobs) > 1:
            done = _decode_in_processes(model, jobs, settings, need_weights, workers)
        else:
            done = (_decode_job(model, job, settings, need_weights) for job in jobs)
        for chunk, hyps in done:
            for k, h in zip(chunk, hyps, strict=True):
                out[k] = h
            bar.update(len(chunk))
    return out  # type: ignore[return-value]


_Job = tuple[int, list[int], list[Sequence[int]]]  # batch number, sentence indices, their source ids


def _decode_job(
    model: Seq2Seq, job: _Job, settings: DecodeSettings, need_weights: bool
) -> tuple[list[int], list[list[Hypothesis]]]:
    """Decode one batch of ``decode_batches``: its sentence indices and their hypotheses."""
    number, chunk, sources = job
    if settings.strategy == "sample" and settings.seed is not None:
        settings = replace(settings, seed=settings.seed + number)
    batch = Batch.from_ids(sources, None, chunk, model.pad_id, model.bos_id, model.eos_id)
    device = next(model.parameters()).device
    return chunk, decode(model, batch.src.to(device), batch.src_mask.to(device), settings, need_weights)


def _decode_in_processes(
    model: Seq2Seq, jobs: list[_Job], settings: DecodeSettings, need_weights: bool, workers: int
) -> Iterator[tuple[list[int], list[list[Hypothesis]]]]:
    """The jobs decoded by a pool of ``workers`` CPU processes (see ``check_workers``), longest batches
    first, as they finish."""
    threads = max(1, torch.get_num_threads() // workers)
    # fork where there is one (the workers inherit the model without a copy), else spawn (pickled).
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    args = (model, threads, settings, need_weights)
    with ctx.Pool(min(workers, len(jobs)), initializer=_start_worker, initargs=args) as pool:
        for chunk, hyps in pool.imap_unordered(_worker_job, reversed(jobs)):
            yield chunk, [[_from_worker(h) for h in row] for row in hyps]


_WORKER: dict[str, Any] = {}  # in a decoding worker process: its model and settings


def _start_worker(model: Seq2Seq, threads: int, settings: DecodeSettings, need_weights: bool) -> None:
    torch.set_num_threads(threads)
    _WORKER.update(model=model, settings=settings, need_weights=need_weights)


def _worker_job(job: _Job) -> tuple[list[int], list[list[Hypothesis]]]:
    """``_decode_job`` in a worker; attention goes back as numpy arrays (a tensor would travel as a
    shared-memory handle, one file descriptor each)."""
    with torch.inference_mode():
        chunk, hyps = _decode_job(_WORKER["model"], job, _WORKER["settings"], _WORKER["need_weights"])
    return chunk, [[_to_parent(h) for h in row] for row in hyps]


def _to_parent(h: Hypothesis) -> Hypothesis:
    return h if h.attention is None else replace(h, attention=h.attention.numpy())


def _from_worker(h: Hypothesis) -> Hypothesis:
    return h if h.attention is None else replace(h, attention=torch.from_numpy(h.attention))


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
    workers: int = 1,
) -> Scored:
    """Translate ``sources`` with ``translator`` (its preprocessing, truncation and batching) and score the
    best hypothesis of each against ``references``, line by line.

    Raises:
        ValueError: ``sources`` and ``references`` differ in length.
    """
    if len(sources) != len(references):
        raise ValueError(f"{len(sources)} sources but {len(references)} references: they must pair line by line")
    start = time.perf_counter()
    translations = translator.decode(sources, settings, max_tokens, progress=progress, workers=workers)
    seconds = time.perf_counter() - start
    texts = [t[0].text for t in translations]
    scores = {
        **score_texts(texts, list(references)),
        **decode_timing(len(texts), seconds),
        "decode": asdict(settings),
        "max_tokens": int(max_tokens),
        "workers": int(workers),
        "max_len": translator.max_len,
        "truncated_sources": sum(t[0].truncated for t in translations),
    }
    return Scored(translations, texts, scores)
