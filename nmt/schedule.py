"""Learning-rate schedules not in torch: built on ``torch.optim.lr_scheduler.LambdaLR``.

Each schedule can end with a **cooldown**: over the last ``cooldown`` fraction of the training
budget the rate falls linearly to 0,

    lr(step) = lr · base(step) · min(1, (1 − spent) / cooldown),

where ``spent`` ∈ [0, 1] is the fraction of the budget used so far: wall-clock time against
``trainer.max_time`` or optimiser steps against ``trainer.max_steps`` / ``max_epochs``, whichever
ends first. ``BudgetClock`` (a callback every training run has) sets ``spent`` before each step, so
a time-limited run anneals into its own deadline instead of stopping at a high rate, and a resumed
run carries on from the fraction it had reached (Lightning's Timer keeps its elapsed time in the
checkpoint). Under DDP with a time limit rank 0's fraction is broadcast, so every rank steps with the
same rate.
"""

from __future__ import annotations

import math

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Timer
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from nmt.errors import ConfigError


class BudgetFactor:
    """The cooldown part of a schedule's factor; subclasses give ``base(step)``.

    A class rather than a lambda so that it pickles with the checkpoint (LambdaLR saves its
    ``__dict__``, ``spent`` included).
    """

    def __init__(self, cooldown: float = 0.0) -> None:
        if not 0.0 <= cooldown < 1.0:
            raise ConfigError(f"cooldown must be a fraction of the training budget in [0, 1), got {cooldown}")
        self.cooldown = cooldown
        self.spent = 0.0  # set by BudgetClock before every training step

    def base(self, step: int) -> float:
        raise NotImplementedError

    def __call__(self, step: int) -> float:
        decay = 1.0 if self.cooldown == 0 else min(1.0, max(0.0, 1.0 - self.spent) / self.cooldown)
        return self.base(step) * decay


class InverseSqrtFactor(BudgetFactor):
    """base(step) = min(step / warmup, sqrt(warmup / step)): linear warm-up, then ∝ 1/√step.

    This is the schedule of Vaswani et al. normalised so that the peak, at ``warmup_steps``,
    is the optimiser's configured lr.
    """

    def __init__(self, warmup_steps: int, cooldown: float = 0.0) -> None:
        if warmup_steps < 1:
            raise ConfigError(f"warmup_steps must be >= 1, got {warmup_steps}")
        super().__init__(cooldown)
        self.warmup_steps = warmup_steps

    def base(self, step: int) -> float:
        step = max(step, 1)
        return min(step / self.warmup_steps, (self.warmup_steps / step) ** 0.5)


class ConstantFactor(BudgetFactor):
    """base(step) = min(1, step / warmup): the configured lr after an optional linear warm-up."""

    def __init__(self, warmup_steps: int = 0, cooldown: float = 0.0) -> None:
        if warmup_steps < 0:
            raise ConfigError(f"warmup_steps must be >= 0, got {warmup_steps}")
        super().__init__(cooldown)
        self.warmup_steps = warmup_steps

    def base(self, step: int) -> float:
        return 1.0 if self.warmup_steps == 0 else min(1.0, max(step, 1) / self.warmup_steps)


def inverse_sqrt(optimizer: Optimizer, warmup_steps: int = 4000, cooldown: float = 0.0) -> LambdaLR:
    """Inverse-square-root schedule with linear warm-up (and an optional cooldown), stepped every optimiser step."""
    return LambdaLR(optimizer, InverseSqrtFactor(warmup_steps, cooldown))


def constant(optimizer: Optimizer, warmup_steps: int = 0, cooldown: float = 0.0) -> LambdaLR:
    """The configured lr (after an optional warm-up), with an optional cooldown into the budget's end."""
    return LambdaLR(optimizer, ConstantFactor(warmup_steps, cooldown))


def budget_spent(trainer: pl.Trainer, total_steps: float | None = None) -> float:
    """The fraction of the training budget used: time against max_time, steps against max_steps or
    max_epochs (``total_steps``, default Lightning's estimate), whichever is further along; 0 when
    the run has no budget."""
    spent = 0.0
    timer = _time_budget(trainer)
    if timer is not None:
        elapsed, remaining = timer.time_elapsed("train"), timer.time_remaining("train")
        spent = elapsed / max(elapsed + remaining, 1e-9)
    total = trainer.estimated_stepping_batches if total_steps is None else total_steps
    if math.isfinite(total) and total > 0:
        spent = max(spent, trainer.global_step / total)
    return min(spent, 1.0)


def _time_budget(trainer: pl.Trainer) -> Timer | None:
    """Lightning's Timer when the run has a time limit (``trainer.max_time``), else None."""
    timer = next((cb for cb in trainer.callbacks if isinstance(cb, Timer)), None)
    return timer if timer is not None and timer.time_remaining("train") is not None else None


def _budget_factors(trainer: pl.Trainer) -> list[BudgetFactor]:
    configs = trainer.lr_scheduler_configs
    lambdas = [f for config in configs for f in getattr(config.scheduler, "lr_lambdas", ())]
    return [f for f in lambdas if isinstance(f, BudgetFactor) and f.cooldown > 0]


class BudgetClock(pl.Callback):
    """Before every training step, tell the schedules with a cooldown how much of the budget is spent."""

    def __init__(self) -> None:
        self._total_steps = math.inf
        self._broadcast = False

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._total_steps = trainer.estimated_stepping_batches  # the step budget, once per epoch
        # each rank reads its own clock: under DDP with a time limit rank 0's fraction decides, so every
        # rank steps at one rate (a step budget needs no collective: global_step is the same on every rank)
        self._broadcast = trainer.world_size > 1 and _time_budget(trainer) is not None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        factors = _budget_factors(trainer)
        if not factors:
            return
        spent = budget_spent(trainer, self._total_steps)
        if self._broadcast:
            spent = float(trainer.strategy.broadcast(spent, src=0))
        for factor in factors:
            factor.spent = spent


def has_budget(trainer_cfg: dict) -> bool:
    """Whether trainer settings end training by themselves (what a cooldown needs to aim at)."""
    # Lightning: max_epochs unset (and no max_steps) means 1000 epochs; -1 and -1 mean no end.
    max_steps = trainer_cfg.get("max_steps")
    max_epochs = trainer_cfg.get("max_epochs")
    unbounded = max_epochs == -1 and (max_steps is None or max_steps == -1)
    return bool(trainer_cfg.get("max_time")) or not unbounded
