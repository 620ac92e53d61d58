"""Training speed: a real ``pl.Trainer`` run with a timing callback, and the figures of its timed steps.

Training runs through the Trainer ``nmt.train`` builds (minus validation, checkpoints and loggers)
rather than a hand-written loop, so forward, loss, backward, clipping, optimiser and schedule are
exactly what training runs; the clock, read at the end of every step, also counts data loading and
Lightning's per-step overhead, which training pays too.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
import warnings

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from tqdm.auto import tqdm

from nmt.allocator import configure_malloc, malloc_mode
from nmt.batch import Batch
from nmt.data import TranslationDataModule
from nmt.errors import ConfigError
from nmt.flops import TRAIN_FACTOR, formula_of, forward_flops, minor_faults
from nmt.models.base import Seq2Seq
from nmt.quiet import profiler_chatter_dropped
from nmt.sampler import TokenBucketSampler, padding_fraction
from nmt.trainer_setup import trainer_arguments
from nmt.training import build_module


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
        self.faults = 0  # minor page faults of this process over the timed steps
        self._faults_start = 0
        self.total = warmup + steps + profile_steps
        self._bar = tqdm(total=self.total, desc="training steps", unit="step", leave=False, disable=None)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Batch, batch_idx: int):
        if not pl_module.training:
            raise RuntimeError("the module is not in train mode: dropout would be off and the timing unfaithful")
        if self.done == 0 and self.warmup == 0:
            self.start = time.perf_counter()
        if self.done == self.warmup + self.steps and self.profile_steps:
            self._profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
            with profiler_chatter_dropped():
                self._profiler.start()
        self._step_start = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch: Batch, i: int):
        now = time.perf_counter()
        self.done += 1
        self._bar.update(1)
        if self.done == self.warmup:
            self.start = now
            self._faults_start = minor_faults()
        elif self.warmup < self.done <= self.warmup + self.steps:
            self.step_seconds.append(now - self._step_start)
            src, tgt, positions = batch_lengths(batch, pl_module.model.pad_id)
            self.src_lens, self.tgt_lens, self.padded = (
                self.src_lens + src,
                self.tgt_lens + tgt,
                self.padded + positions,
            )
            self.end = now
            if self.done == self.warmup + self.steps:
                self.faults = minor_faults() - self._faults_start
        elif self._profiler is not None and self.done == self.total:
            with profiler_chatter_dropped():
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
    _, module = build_module(train_cfg, dm, model)  # the loss, optimiser and schedule training uses
    configure_malloc(malloc_mode(train_cfg))  # as nmt.train sets it (train.malloc)
    timer = StepTimer(int(cfg.warmup), int(cfg.steps), int(cfg.profile_steps), int(cfg.profile_rows))
    total = timer.total
    args = trainer_arguments(train_cfg.trainer)  # as nmt.train builds it (a DDP strategy entry included)
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
        raise ConfigError(f"only {timer.done} of {total} training steps ran; the training split is too small")
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
        "page_faults_per_step": round(timer.faults / timer.steps),
        "max_tokens": dm.max_tokens,
        "flops_formula": formula_of(model),
    }
