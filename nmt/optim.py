"""Optimisers as the model configs build them (``_target_: nmt.optim.adam``, ``_partial_: true``).

Fused Adam (one kernel for the whole update) exists on CUDA since torch 1.13 and on CPU since
torch 2.4 (the floor in pyproject.toml); on a device this torch has no fused kernel for (e.g.
MPS or XPU with some releases) ``adam`` falls back to the default implementation with a warning,
rather than stopping a run that would train correctly without it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import torch

log = logging.getLogger(__name__)


def adam(params: Iterable[Any], fused: bool | None = None, **kwargs: Any) -> torch.optim.Adam:
    """``torch.optim.Adam(params, fused=fused, **kwargs)``, without ``fused`` where torch cannot fuse.

    Args:
        params: the parameters (or parameter groups) to optimise.
        fused: True asks for the fused kernel; None lets torch choose (its default).
        **kwargs: any other argument of ``torch.optim.Adam`` (lr, betas, eps, weight_decay, …).
    """
    params = list(params)
    if not fused:
        return torch.optim.Adam(params, fused=fused, **kwargs)
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)
    except RuntimeError as err:  # "`fused=True` requires all the params to be … of supported devices"
        if "fused" not in str(err):
            raise
        devices = sorted({str(p.device) for group in params for p in _tensors(group)})
        log.warning(
            "model.optimizer.fused=true: no fused Adam for %s in torch %s; using the default Adam",
            ", ".join(devices),
            torch.__version__,
        )
        return torch.optim.Adam(params, fused=None, **kwargs)


def _tensors(group: Any) -> list[torch.Tensor]:
    """The tensors of one entry of ``params``: a tensor, or a parameter group ``{"params": …}``."""
    if isinstance(group, dict):
        found = group["params"]
        return [found] if isinstance(found, torch.Tensor) else list(found)
    return [group]
