"""``python -m nmt.bench``: how fast both models train and decode on this machine (issue 7).

Usage::

    python -m nmt.bench [data.root=../shared/data/multi30k] [threads=2] [steps=30] [warmup=5]
        [sentences=1000] [sequential_sentences=200] [run=<run dir> | run=[<run>,<run>]] [quick=true]

One run measures, with torch's thread setting (``threads=`` changes it for everything):

* ``peak_gflops``: the best rate of large square fp32 matmuls, what MFU is relative to; sampled before
  and after every model, the best sample kept (a shared machine's load only ever lowers a sample).
* per model (conf/model/<name>.yaml at its default size), on batches of the composed train config
  (Multi30k when ``data.root`` is given or ``<cache_dir>/multi30k`` holds it, else the toy corpus):
  training target tokens/s over ``steps`` optimiser steps after ``warmup`` ones, analytic FLOPs per
  target token (``nmt.flops``), MFU = achieved FLOP/s / peak, padding of the batches used, peak RSS.
* per model: decoding sentences/s on the test split, greedy and beam, in the data module's
  token-budget batches and one sentence at a time, with the mean output and reference lengths (an
  untrained model stops at arbitrary lengths, often 0 or the limit, so ``run=`` measures trained ones).
* around each measurement, the share of the CPUs that other processes kept busy (``nmt.flops.OtherLoad``):
  on a shared machine it says which numbers to distrust.

Training runs through a real ``pl.Trainer`` (the one ``nmt.train`` builds, minus validation,
checkpoints and loggers) with a timing callback, rather than a hand-written loop: forward,
label-smoothed loss, backward, gradient clipping, Adam and the LR schedule are then exactly what
training runs (and stay so when the speed work changes the module or the trainer config), and the
clock, read at the end of every step, also counts data loading and Lightning's per-step overhead,
which training pays too. Lightning puts the module in train mode, so dropout is on (checked).

Writes ``output`` (default ``runs/bench/<date>_<time>.json``) and prints a table with the targets
of issue 7 marked PASS or MISS.
"""

from __future__ import annotations

import logging
import math
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from nmt.api import translate_batches
from nmt.batch import Batch
from nmt.checkpoint import LoadedRun, build_model, load_run
from nmt.corpora.multi30k import MAIN_SPLITS
from nmt.data import Collate, PairDataset, TranslationDataModule
from nmt.evaluate import load_eval_set, write_json
from nmt.flops import (
    TRAIN_FACTOR,
    OtherLoad,
    PeakRate,
    formula_of,
    forward_flops,
    machine_info,
    peak_matmul_gflops,
    peak_rss_mb,
    reset_peak_rss,
)
from nmt.models.base import Seq2Seq
from nmt.module import Seq2SeqModule
from nmt.sampler import TokenBucketSampler, padding_fraction
from nmt.search import DecodeSettings
from nmt.train import build_datamodule

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
TARGETS = {"transformer_mfu": 0.40, "rnn_mfu": 0.15, "padding": 0.10, "beam_batching": 5.0, "greedy_vs_beam": 2.0}


# ---- settings, machine, data ---------------------------------------------------------------------


def effective_config(cfg: DictConfig) -> DictConfig:
    """``cfg`` with ``quick_settings`` applied when ``quick`` is true (overrides lists are appended)."""
    if not cfg.quick:
        return cfg
    quick = cfg.quick_settings
    keys = ["peak", "warmup", "steps", "profile_steps", "sentences", "sequential_sentences", "greedy", "beam"]
    out = OmegaConf.merge(cfg, {k: quick[k] for k in keys + ([] if cfg.threads else ["threads"])})
    out.overrides = [*cfg.overrides, *quick.overrides]
    for name in out.model_overrides:
        out.model_overrides[name] = [*cfg.model_overrides[name], *quick.model_overrides.get(name, [])]
    return out


@dataclass(frozen=True)
class DataChoice:
    """Which corpus the benchmark batches come from, and why."""

    name: str
    root: str | None
    reason: str


def choose_data(cfg: DictConfig) -> DataChoice:
    """Multi30k from ``data.root``, else from the cache when every main file is there, else the toy corpus."""
    if cfg.quick:
        return DataChoice("toy", None, "quick=true always uses a small toy corpus")
    if cfg.data.root:
        return DataChoice("multi30k", str(cfg.data.root), f"data.root={cfg.data.root}")
    cached = Path(str(cfg.cache_dir)).expanduser() / "multi30k"
    langs = (cfg.data.src_lang, cfg.data.tgt_lang)
    if all((cached / f"{stem}.{lang}.gz").is_file() for stem in MAIN_SPLITS.values() for lang in langs):
        return DataChoice("multi30k", str(cached), f"found in the cache {cached}")
    return DataChoice("toy", None, f"no data.root given and no Multi30k in {cached}: the toy corpus stands in")


def compose_train(overrides: list[str]) -> DictConfig:
    """conf/train.yaml composed with ``overrides`` (inside a Hydra app or a test's Hydra context, or alone)."""
    if GlobalHydra.instance().is_initialized():
        return hydra.compose(config_name="train", overrides=overrides)
    with hydra.initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra.compose(config_name="train", overrides=overrides)


def train_config(cfg: DictConfig, model: str, data: DataChoice) -> DictConfig:
    """conf/train.yaml for ``model`` at its default size on the chosen data, plus the bench's overrides.

    Paths and languages are set on the composed config rather than passed as override strings,
    so that any path (spaces, ``~``) works.
    """
    extra = [*cfg.overrides, *cfg.model_overrides.get(model, [])]
    train_cfg = compose_train([f"model={model}", f"data={data.name}", *extra])
    train_cfg.cache_dir, train_cfg.seed = str(cfg.cache_dir), int(cfg.seed)
    train_cfg.data.src_lang, train_cfg.data.tgt_lang = str(cfg.data.src_lang), str(cfg.data.tgt_lang)
    if data.root is not None:
        train_cfg.data.root = data.root
    return train_cfg


# ---- training ------------------------------------------------------------------------------------


def batch_lengths(batch: Batch, pad_id: int) -> tuple[list[int], list[int], int]:
    """Real source and target length of each pair, and the number of positions of the padded tensors.

    Shapes: batch.src (B, S), batch.tgt_out (B, T) -> B lengths, B lengths, B·S + B·T.
    """
    src = batch.src_mask.sum(dim=1).tolist()
    tgt = batch.tgt_out.ne(pad_id).sum(dim=1).tolist()
    return src, tgt, batch.src.numel() + batch.tgt_out.numel()


class StepTimer(pl.Callback):
    """Times training steps ``warmup + 1 … warmup + steps`` and records their batches' real lengths.

    The clock reads at the end of every step (after the optimiser step), so the time of the timed
    steps includes loading their batches. Then ``profile_steps`` more steps run under ``torch.profiler``
    and the ``profile_rows`` operations with the most self CPU time are kept, averaged per step.
    """

    def __init__(self, warmup: int, steps: int, profile_steps: int = 0, profile_rows: int = 15) -> None:
        super().__init__()
        self.warmup, self.steps, self.profile_steps, self.profile_rows = warmup, steps, profile_steps, profile_rows
        self.done = 0
        self.start = self.end = 0.0
        self.src_lens: list[int] = []
        self.tgt_lens: list[int] = []
        self.padded = 0  # positions in the timed batches' source and target tensors
        self.step_seconds: list[float] = []
        self.profile: list[dict] | None = None
        self._profiler: torch.profiler.profile | None = None
        self._step_start = 0.0
        self.total = warmup + steps + profile_steps
        self._bar = tqdm(total=self.total, desc="training steps", unit="step", leave=False, disable=None)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Batch, batch_idx: int):
        if not pl_module.training:
            raise RuntimeError("the module is not in train mode: dropout would be off and the timing unfaithful")
        if self.done == 0 and self.warmup == 0:
            self.start = time.perf_counter()
        if self.done == self.warmup + self.steps and self.profile_steps:
            self._profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
            self._profiler.start()
        self._step_start = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch: Batch, i: int):
        now = time.perf_counter()
        self.done += 1
        self._bar.update(1)
        if self.done == self.warmup:
            self.start = now
        elif self.warmup < self.done <= self.warmup + self.steps:
            self.step_seconds.append(now - self._step_start)
            src, tgt, positions = batch_lengths(batch, pl_module.model.pad_id)
            self.src_lens, self.tgt_lens, self.padded = (
                self.src_lens + src,
                self.tgt_lens + tgt,
                self.padded + positions,
            )
            self.end = now
        elif self._profiler is not None and self.done == self.total:
            self._profiler.stop()
            self.profile = top_ops(self._profiler, self.profile_rows, self.profile_steps)
            self._profiler = None

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._bar.close()


def top_ops(profiler: torch.profiler.profile, rows: int, steps: int) -> list[dict]:
    """The ``rows`` operations with the most self CPU time per step, with their share of the total."""
    events = list(profiler.key_averages())
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return [
        {
            "op": e.key,
            "self_cpu_ms": round(e.self_cpu_time_total / 1e3 / steps, 3),
            "self_cpu_pct": round(100 * e.self_cpu_time_total / total, 1),
            "cpu_total_ms": round(e.cpu_time_total / 1e3 / steps, 3),
            "calls": round(e.count / steps, 1),
        }
        for e in events[:rows]
    ]


def run_training(train_cfg: DictConfig, dm: TranslationDataModule, model: Seq2Seq, cfg: DictConfig) -> StepTimer:
    """Train ``model`` for warmup + steps (+ profiled) steps with the Trainer ``nmt.train`` would build."""
    module = Seq2SeqModule(
        model,
        optimizer=instantiate(train_cfg.model.optimizer),
        scheduler=instantiate(train_cfg.model.scheduler) if train_cfg.model.get("scheduler") else None,
        label_smoothing=train_cfg.model.label_smoothing,
    )
    timer = StepTimer(int(cfg.warmup), int(cfg.steps), int(cfg.profile_steps), int(cfg.profile_rows))
    total = timer.total
    args = OmegaConf.to_container(train_cfg.trainer, resolve=True)
    args |= {"max_epochs": -1, "max_steps": total, "max_time": None, "limit_val_batches": 0}
    args |= {"num_sanity_val_steps": 0, "enable_progress_bar": False}
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*(num_workers|many workers|val_dataloader|validation_step|LeafSpec).*"
        )
        trainer = pl.Trainer(
            **args,
            default_root_dir=tmp,
            callbacks=[timer],
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            gradient_clip_val=train_cfg.model.get("grad_clip"),
            use_distributed_sampler=False,
        )
        trainer.fit(module, datamodule=dm)
    if timer.done < total:
        raise ValueError(f"only {timer.done} of {total} training steps ran; the training split is too small")
    return timer


def training_report(timer: StepTimer, model: Seq2Seq, dm: TranslationDataModule) -> dict:
    """Tokens/s, FLOPs per target token, achieved FLOP/s and padding of the timed steps (MFU comes later)."""
    seconds = timer.end - timer.start
    tokens = sum(timer.tgt_lens)
    flops_per_token = TRAIN_FACTOR * forward_flops(model, timer.src_lens, timer.tgt_lens) / tokens
    tokens_per_s = tokens / seconds
    train_set = dm.datasets["train"]
    epoch = TokenBucketSampler(train_set.lengths(), dm.max_tokens, shuffle=True, seed=dm.seed).epoch_batches()
    return {
        "train_tokens_per_s": round(tokens_per_s, 1),
        "flops_per_target_token": round(flops_per_token),
        "achieved_gflops": round(flops_per_token * tokens_per_s / 1e9, 3),
        "padding_fraction": round(1 - (sum(timer.src_lens) + tokens) / timer.padded, 4),
        "padding_fraction_epoch": round(padding_fraction(epoch, train_set.lengths()), 4),
        "src_tgt_token_ratio": round(sum(timer.src_lens) / tokens, 3),
        "steps": timer.steps,
        "warmup_steps": timer.warmup,
        "seconds": round(seconds, 3),
        "target_tokens": tokens,
        "sentences_per_batch": round(len(timer.tgt_lens) / timer.steps, 1),
        "step_ms_median": round(1e3 * statistics.median(timer.step_seconds), 1),
        "max_tokens": dm.max_tokens,
        "flops_formula": formula_of(model),
    }


# ---- decoding ------------------------------------------------------------------------------------


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


def time_decoding(model: Seq2Seq, test: TestSet, indices: list[int], settings: DecodeSettings, one_at_a_time: bool):
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


# ---- one model, the whole benchmark --------------------------------------------------------------


def bench_model(name: str, cfg: DictConfig, data: DataChoice, run: LoadedRun | None) -> dict:
    """Train-speed and decode-speed figures of one model (``name`` in conf/model/)."""
    train_cfg = train_config(cfg, name, data)
    dm = build_datamodule(train_cfg)
    dm.prepare_data()
    dm.setup("fit")
    pl.seed_everything(train_cfg.seed, verbose=False)
    model = build_model(train_cfg.model, dm.vocab)
    out: dict = {"params": sum(p.numel() for p in model.parameters()), "vocab_size": dm.vocab.tgt_size}
    out["net"] = OmegaConf.to_container(train_cfg.model.net)
    if int(cfg.steps) > 0:
        isolated = reset_peak_rss()
        with OtherLoad() as others:
            timer = run_training(train_cfg, dm, model, cfg)
        out["train"] = training_report(timer, model, dm) | {"other_cpu_share": others.share}
        out["train"]["peak_rss_mb"] = peak_rss_mb()
        out["train"]["peak_rss_scope"] = "this model's training" if isolated else "the process so far"
        out["profile"] = timer.profile  # per training step, averaged over profile_steps
    if run is None:
        budget = int(dm.eval_max_tokens or dm.max_tokens)
        test = TestSet(dm.datasets["test"], dm.vocab.pad_id, dm.vocab.bos_id, dm.vocab.eos_id, budget)
        weights = f"untrained (random + {cfg.warmup}+{cfg.steps} bench steps): output lengths are not a real model's"
    else:
        model, test = run.model, run_test_set(run, cfg)
        weights = f"trained: {run.checkpoint}"
    params = sum(p.numel() for p in model.parameters())
    with OtherLoad() as others:
        decoded = decoding_report(model, test, cfg)
    out["decode"] = {"weights": weights, "params": params, **decoded, "other_cpu_share": others.share}
    return out


def _load_runs(cfg: DictConfig) -> dict[str, LoadedRun]:
    """``run=`` (one folder or a list) loaded and keyed by the model name in each run's config."""
    specs = [] if cfg.run is None else [cfg.run] if isinstance(cfg.run, str) else list(cfg.run)
    runs: dict[str, LoadedRun] = {}
    for spec in specs:
        run = load_run(spec, cfg.checkpoint)
        name = str(run.config.model.name)
        if name in runs:
            raise ValueError(f"run={spec}: a second {name} run (first: {runs[name].run_dir}); give one run per model")
        if name not in cfg.models:
            raise ValueError(f"run={spec}: a {name} run, but models={list(cfg.models)}; add {name} to models")
        runs[name] = run
    return runs


def check_targets(models: dict[str, dict]) -> list[dict]:
    """The targets of issue 7, each with its value and PASS (True) or MISS (False)."""
    checks = []

    def add(label: str, value: float | None, threshold: float, at_least: bool) -> None:
        if value is not None:
            ok = value >= threshold if at_least else value <= threshold
            checks.append({"target": label, "value": value, "threshold": threshold, "pass": bool(ok)})

    for name, m in models.items():
        train, dec = m.get("train") or {}, m["decode"]
        if name in ("transformer", "rnn"):
            add(f"{name} mfu >= {TARGETS[name + '_mfu']:.2f}", train.get("mfu"), TARGETS[name + "_mfu"], True)
        add(f"{name} padding <= {TARGETS['padding']:.0%}", train.get("padding_fraction"), TARGETS["padding"], False)
        add(f"{name} beam batched >= 5x sequential", dec["beam_batched_vs_sequential"], TARGETS["beam_batching"], True)
        add(f"{name} greedy >= 2x beam (batched)", dec["greedy_vs_beam_batched"], TARGETS["greedy_vs_beam"], True)
    return checks


def _peak(cfg: DictConfig) -> PeakRate:
    return peak_matmul_gflops(int(cfg.peak.size), int(cfg.peak.repeats), int(cfg.peak.trials))


def bench(cfg: DictConfig) -> dict:
    """Run every measurement of ``cfg`` (conf/bench.yaml), write the JSON and return the report.

    torch's thread count is set from ``threads`` for the run and restored afterwards.
    """
    cfg = effective_config(cfg)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(int(cfg.threads or threads))
        return _bench(cfg)
    finally:
        torch.set_num_threads(threads)


def _bench(cfg: DictConfig) -> dict:
    runs = _load_runs(cfg)  # fail on a bad run folder before minutes of measuring
    output = Path(cfg.output) if cfg.output else Path("runs/bench") / f"{datetime.now():%Y-%m-%d_%H-%M-%S}.json"
    report: dict = {"created": datetime.now().isoformat(timespec="seconds"), "quick": bool(cfg.quick)}
    report["machine"] = machine_info() | {"pytorch_lightning": pl.__version__}
    data = choose_data(cfg)
    report["data"] = {**asdict(data), "src_lang": cfg.data.src_lang, "tgt_lang": cfg.data.tgt_lang}
    # The peak is sampled before and after every model and the best sample kept: on a shared
    # machine a single sample taken while another process runs would make every MFU look too good.
    peaks = [_peak(cfg)]
    report["models"] = {}
    for name in cfg.models:
        report["models"][name] = bench_model(name, cfg, data, runs.get(name))
        peaks.append(_peak(cfg))
    best = max(peaks, key=lambda p: p.gflops)
    report["peak_gflops"], report["peak"] = best.gflops, asdict(best) | {"samples": [p.gflops for p in peaks]}
    for model in report["models"].values():
        if "train" in model:
            model["train"]["mfu"] = round(model["train"]["achieved_gflops"] / best.gflops, 4)
    report["targets"] = check_targets(report["models"])
    report["config"] = OmegaConf.to_container(cfg, resolve=True)
    write_json(output, report)
    report["output"] = str(output)
    return report


# ---- the printed table ---------------------------------------------------------------------------


def format_report(report: dict) -> str:
    """The printed summary: machine and peak, one training row per model, decoding rows, targets."""
    m, p, d = report["machine"], report["peak"], report["data"]
    lines = [
        f"nmt.bench — torch {m['torch']}, {m['threads']} threads, {m['cpu_model']} ({m['cpus']} CPUs)"
        + (" [quick: checks that it runs, not timing]" if report["quick"] else ""),
        f"peak fp32 matmul: {report['peak_gflops']:.1f} GFLOP/s ({p['size']}x{p['size']}, {p['threads']} threads, "
        f"best of {len(p['samples'])} samples)",
        f"data: {d['name']} {d['src_lang']}-{d['tgt_lang']} ({d['reason']})",
        "",
        f"{'training':<12} {'tokens/s':>9} {'GFLOP/tok':>9} {'GFLOP/s':>8} {'mfu':>6} {'padding':>8} "
        f"{'RSS MB':>7} {'steps':>5} {'seconds':>8} {'others':>6}",
    ]
    for name, r in report["models"].items():
        if t := r.get("train"):
            lines.append(
                f"{name:<12} {t['train_tokens_per_s']:>9.0f} {t['flops_per_target_token'] / 1e9:>9.4f} "
                f"{t['achieved_gflops']:>8.2f} {t['mfu']:>6.3f} {t['padding_fraction']:>8.1%} {t['peak_rss_mb']:>7.0f} "
                f"{t['steps']:>5} {t['seconds']:>8.2f} {_share(t['other_cpu_share']):>6}"
            )
    lines += [
        "",
        f"{'decoding':<12} {'search':<8} {'batching':<10} {'sent':>5} {'sent/s':>8} {'out len':>7} {'ref len':>7} "
        f"{'max len':>7}",
    ]
    for name, r in report["models"].items():
        dec = r["decode"]
        for key in ("greedy_batched", "greedy_sequential", "beam_batched", "beam_sequential"):
            x = dec[key]
            search, batching = key.split("_")
            search = f"beam{dec['beam']['beam_size']}" if search == "beam" else search
            lines.append(
                f"{name:<12} {search:<8} {batching:<10} {x['sentences']:>5} {x['sentences_per_s']:>8.2f} "
                f"{x['mean_output_len']:>7.1f} {x['mean_reference_len']:>7.1f} {x['mean_max_len']:>7.1f}"
            )
        lines.append(f"{'':<12} weights: {dec['weights']}; others used {_share(dec['other_cpu_share'])} of the CPUs")
    lines += ["", "'others': share of all CPUs other processes kept busy meanwhile; above ~5% the timings are noisy"]
    lines += ["", "targets (issue 7)"]
    lines += [f"  {c['target']:<42} {c['value']:>8.3f}  {'PASS' if c['pass'] else 'MISS'}" for c in report["targets"]]
    return "\n".join(lines)


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def format_profile(report: dict) -> str:
    """The profiled training steps of each model: top operations by self CPU time, per step."""
    lines = []
    for name, r in report["models"].items():
        if not r.get("profile"):
            continue
        steps = report["config"]["profile_steps"]
        lines += ["", f"{name}: top ops by self CPU time per training step (mean of {steps} profiled steps)"]
        lines += [f"  {'op':<52} {'self ms':>9} {'%':>6} {'total ms':>9} {'calls':>6}"]
        for e in r["profile"]:
            op = e["op"] if len(e["op"]) <= 52 else e["op"][:49] + "..."
            ms = f"{e['self_cpu_ms']:>9.2f} {e['self_cpu_pct']:>6.1f} {e['cpu_total_ms']:>9.2f}"
            lines.append(f"  {op:<52} {ms} {e['calls']:>6g}")
    return "\n".join(lines)


@hydra.main(config_path="../conf", config_name="bench", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        report = bench(cfg)
    except (ValueError, OSError) as err:  # CheckpointError, CorpusError, bad settings: one-line messages
        print(f"nmt.bench: error: {err}", file=sys.stderr)
        sys.exit(2)
    print(format_report(report))
    print(format_profile(report))
    print(f"wrote {report['output']}", file=sys.stderr)


if __name__ == "__main__":
    main()
