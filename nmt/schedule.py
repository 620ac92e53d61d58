"""Learning-rate schedules not in torch: built on ``torch.optim.lr_scheduler.LambdaLR``."""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from nmt.errors import ConfigError


class InverseSqrtFactor:
    """lr(step) = lr · min(step / warmup, sqrt(warmup / step)): linear warm-up, then ∝ 1/√step.

    This is the schedule of Vaswani et al. normalised so that the peak, at ``warmup_steps``,
    is the optimiser's configured lr. A class rather than a lambda so it pickles with the
    checkpoint.
    """

    def __init__(self, warmup_steps: int) -> None:
        if warmup_steps < 1:
            raise ConfigError(f"warmup_steps must be >= 1, got {warmup_steps}")
        self.warmup_steps = warmup_steps

    def __call__(self, step: int) -> float:
        step = max(step, 1)
        return min(step / self.warmup_steps, (self.warmup_steps / step) ** 0.5)


def inverse_sqrt(optimizer: Optimizer, warmup_steps: int = 4000) -> LambdaLR:
    """Inverse-square-root schedule with linear warm-up, stepped once per optimiser step."""
    return LambdaLR(optimizer, InverseSqrtFactor(warmup_steps))
