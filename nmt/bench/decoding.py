"""Decoding speed: greedy and beam, in token-budget batches and one sentence at a time, on the test split."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass

from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from nmt.api import translate_batches
from nmt.checkpoint import LoadedRun
from nmt.data import Collate, PairDataset
from nmt.evaluation import load_eval_set
from nmt.models.base import Seq2Seq
from nmt.sampler import TokenBucketSampler
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
    model: Seq2Seq, test: TestSet, indices: list[int], settings: DecodeSettings, one_at_a_time: bool
) -> dict:
    """Decode the pairs ``indices`` of the test set in budgeted batches or one by one; rate and lengths."""
    ds = test.dataset
    subset = PairDataset([ds.src[i] for i in indices], [ds.tgt[i] for i in indices], list(range(len(indices))))
    budget = 1 if one_at_a_time else test.max_tokens  # a pair over the budget is a batch of one
    sampler = TokenBucketSampler(subset.lengths(), budget, shuffle=False)
    loader = DataLoader(subset, batch_sampler=sampler, collate_fn=Collate(test.pad_id, test.bos_id, test.eos_id))
    start = time.perf_counter()
    hyps = translate_batches(model, loader, len(subset), settings, progress=True)
    seconds = time.perf_counter() - start
    lengths = [len(h[0].tokens) for h in hyps]  # pieces, EOS excluded, like the references below
    limits = [math.floor(settings.max_len_a * (len(s) + 1) + settings.max_len_b) for s in subset.src]
    return {
        "sentences": len(subset),
        "batches": len(sampler),
        "seconds": round(seconds, 3),
        "sentences_per_s": round(len(subset) / seconds, 2),
        "mean_output_len": round(statistics.fmean(lengths), 2),
        "mean_reference_len": round(statistics.fmean(len(t) for t in subset.tgt), 2),
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
    rate = {k: out[k]["sentences_per_s"] for k in ("greedy_batched", "beam_batched", "beam_sequential")}
    out["beam_batched_vs_sequential"] = round(rate["beam_batched"] / rate["beam_sequential"], 2)
    out["greedy_vs_beam_batched"] = round(rate["greedy_batched"] / rate["beam_batched"], 2)
    return out


def run_test_set(run: LoadedRun, cfg: DictConfig) -> TestSet:
    """The run's test split encoded with the run's own vocabulary, batched with the run's eval budget."""
    given = OmegaConf.create({"split": "test", "data": {"root": cfg.data.root}, "cache_dir": None})
    _, sources, references = load_eval_set(run, given)
    v = run.vocab
    dataset = PairDataset(v.encode_src(sources), v.encode_tgt(references), list(range(len(sources))))
    budget = run.config.data.get("eval_max_tokens") or run.config.data.max_tokens
    return TestSet(dataset, v.pad_id, v.bos_id, v.eos_id, int(budget))
