"""Decoding speed: greedy and beam, in token-budget batches and one sentence at a time, on the test split."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass

from omegaconf import DictConfig, OmegaConf

from nmt.checkpoint import LoadedRun
from nmt.data import PairDataset, eval_budget
from nmt.decoding import cut_sources, decode_batches, decode_ids, rows_per_sentence
from nmt.evaluation import load_eval_set
from nmt.models.base import Seq2Seq
from nmt.search import DecodeSettings


@dataclass
class TestSet:
    """The encoded test split, the vocabulary's special ids and the evaluation batch budget."""

    dataset: PairDataset
    pad_id: int
    bos_id: int
    eos_id: int
    max_tokens: int


def spread(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (all of them when k >= n), so lengths stay representative."""
    return list(range(n)) if k >= n else [i * n // k for i in range(k)]


def time_decoding(
    model: Seq2Seq, test: TestSet, indices: list[int], settings: DecodeSettings, one_at_a_time: bool, workers: int = 1
) -> dict:
    """Decode the sources ``indices`` of the test set in ``nmt.decoding`` batches of ``test.max_tokens``
    (sentences × beams × longest source) or one by one, in ``workers`` processes; rate and lengths."""
    src, tgt = [test.dataset.src[i] for i in indices], [test.dataset.tgt[i] for i in indices]
    budget = 1 if one_at_a_time else test.max_tokens  # a sentence over the budget is a batch of one
    batches = decode_batches([len(s) + 1 for s in src], budget, rows_per_sentence(settings))
    start = time.perf_counter()
    hyps = decode_ids(model, src, settings, budget, progress=True, workers=workers)
    seconds = time.perf_counter() - start
    lengths = [len(h[0].tokens) for h in hyps]  # pieces, EOS excluded, like the references below
    limits = [math.floor(settings.max_len_a * (len(s) + 1) + settings.max_len_b) for s in src]
    return {
        "sentences": len(src),
        "max_tokens": budget,
        "batches": len(batches),
        "workers": workers,
        "seconds": round(seconds, 3),
        "sentences_per_s": round(len(src) / seconds, 2),
        "mean_output_len": round(statistics.fmean(lengths), 2),
        "mean_reference_len": round(statistics.fmean(len(t) for t in tgt), 2),
        "mean_max_len": round(statistics.fmean(limits), 2),
        "at_max_len": round(sum(n >= m for n, m in zip(lengths, limits, strict=True)) / len(lengths), 3),
    }


def decoding_report(model: Seq2Seq, test: TestSet, cfg: DictConfig) -> dict:
    """Greedy and beam, batched on ``sentences`` and one at a time on ``sequential_sentences`` of them."""
    model.eval()
    n = len(test.dataset)
    batched, sequential = spread(n, int(cfg.sentences)), spread(n, int(cfg.sequential_sentences))
    greedy = DecodeSettings(**OmegaConf.to_container(cfg.greedy, resolve=True))
    beam = DecodeSettings(**OmegaConf.to_container(cfg.beam, resolve=True))
    time_decoding(model, test, spread(n, min(n, 100)), beam, False)  # untimed warm-up: allocator, thread pool
    out = {"split_sentences": n, "greedy": asdict(greedy), "beam": asdict(beam)}
    if n < int(cfg.sentences):
        out["note"] = f"the test split has {n} sentences, fewer than sentences={cfg.sentences}: all are used"
    for name, settings in (("greedy", greedy), ("beam", beam)):
        out[f"{name}_batched"] = time_decoding(model, test, batched, settings, False)
        out[f"{name}_sequential"] = time_decoding(model, test, sequential, settings, True)
        for workers in more_workers(cfg):  # the batched rows again, in that many processes
            out[f"{name}_batched_{workers}proc"] = time_decoding(model, test, batched, settings, False, workers)
    rate = {k: out[k]["sentences_per_s"] for k in ("greedy_batched", "beam_batched", "beam_sequential")}
    out["beam_batched_vs_sequential"] = round(rate["beam_batched"] / rate["beam_sequential"], 2)
    out["greedy_vs_beam_batched"] = round(rate["greedy_batched"] / rate["beam_batched"], 2)
    return out


def more_workers(cfg: DictConfig) -> list[int]:
    """The process counts of ``decode_workers`` beyond the one-process rows every report has."""
    return sorted({int(w) for w in cfg.get("decode_workers") or []} - {1})


def run_test_set(run: LoadedRun, cfg: DictConfig) -> TestSet:
    """The run's test split encoded with the run's own vocabulary and cut at its ``data.max_len`` (as every
    scoring path cuts, ``nmt.decoding.cut_sources``), batched with the run's eval budget."""
    given = OmegaConf.create({"split": "test", "data": {"root": cfg.data.root}, "cache_dir": None})
    _, sources, references = load_eval_set(run, given)
    v = run.vocab
    src = cut_sources(v.encode_src(sources), int(run.config.data.get("max_len", 128)))[0]
    dataset = PairDataset(src, v.encode_tgt(references), list(range(len(sources))))
    data = run.config.data
    return TestSet(dataset, v.pad_id, v.bos_id, v.eos_id, eval_budget(data.max_tokens, data.get("eval_max_tokens")))
