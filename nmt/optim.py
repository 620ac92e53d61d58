"""Optimisers as the model configs build them (``_target_: nmt.optim.adam``, ``_partial_: true``).

Fused Adam (one kernel for the whole update) exists on CUDA since torch 1.13 and on CPU since
torch 2.4 (the floor in pyproject.toml); on a device this torch has no fused kernel for (e.g.
MPS or XPU with some releases) ``adam`` and ``adamw`` fall back to the default implementation with
a warning, rather than stopping a run that would train correctly without it.

``adamw`` is Adam with decoupled weight decay (Loshchilov & Hutter, 2019): each step shrinks a
weight by ``lr * weight_decay`` apart from the gradient's update. It decays the weight matrices and
embeddings only; biases and layer-norm gains (the 1-D parameters) keep ``weight_decay=0``. The
Multi30k Transformer recipe uses it (conf/experiment/multi30k_transformer.yaml); for another config:
    python -m nmt.train model=rnn model.optimizer._target_=nmt.optim.adamw +model.optimizer.weight_decay=0.1
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
    return _fused_if_possible("Adam", list(params), fused, **kwargs)


def adamw(
    params: Iterable[Any], weight_decay: float = 0.01, fused: bool | None = None, **kwargs: Any
) -> torch.optim.AdamW:
    """``torch.optim.AdamW`` that decays only the parameters of two or more dimensions.

    Args:
        params: the parameters to optimise (plain tensors: the groups are made here).
        weight_decay: the decoupled decay of the matrices and embeddings (torch's default, 0.01).
        fused: as for ``adam``.
        **kwargs: any other argument of ``torch.optim.AdamW`` (lr, betas, eps, …).
    """
    params = list(params)
    if any(isinstance(p, dict) for p in params):
        raise ValueError("nmt.optim.adamw makes its own parameter groups: pass the parameters, not groups")
    groups = [
        {"params": [p for p in params if p.dim() >= 2]},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    # weight_decay as the default, which torch checks (a group's own value is not; a negative one grows weights)
    return _fused_if_possible("AdamW", [g for g in groups if g["params"]], fused, weight_decay=weight_decay, **kwargs)


def _fused_if_possible(name: str, params: list[Any], fused: bool | None, **kwargs: Any) -> Any:
    """``torch.optim.<name>(params, fused=…)``, the default implementation where torch has no fused kernel."""
    cls = getattr(torch.optim, name)
    if not fused:
        return cls(params, fused=fused, **kwargs)
    try:
        return cls(params, fused=True, **kwargs)
    except RuntimeError as err:  # "`fused=True` requires all the params to be … of supported devices"
        if "fused" not in str(err):
            raise
        devices = sorted({str(p.device) for group in params for p in _tensors(group)})
        log.warning(
            "model.optimizer.fused=true: no fused %s for %s in torch %s; using the default %s",
            name,
            ", ".join(devices),
            torch.__version__,
            name,
        )
        return cls(params, fused=None, **kwargs)


def _tensors(group: Any) -> list[torch.Tensor]:
    """The tensors of one entry of ``params``: a tensor, or a parameter group ``{"params": …}``."""
    if isinstance(group, dict):
        found = group["params"]
        return [found] if isinstance(found, torch.Tensor) else list(found)
    return [group]
