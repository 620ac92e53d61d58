"""What the decoder would write next: p(y_t | y_<t, x) after a chosen target prefix.

Every search strategy picks from this one distribution: greedy takes its most likely piece, beam
search extends each beam with it, sampling draws from ``softmax(log p / T)``. Looking at it at one
step, for a few temperatures, shows why low temperatures approach greedy search and high ones
approach uniform noise. The attention explorer and ``notebooks/03_decoding.ipynb`` show it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from nmt.errors import ConfigError
from nmt.models.base import Seq2Seq, eval_mode
from nmt.search import next_log_probs, sampling_probs


@torch.inference_mode()
def next_token_log_probs(model: Seq2Seq, src: Tensor, src_mask: Tensor, prefix: Tensor) -> Tensor:
    """log p(y_t | y_<t, x) after the decoder has read BOS and ``prefix``, as search sees it.

    The decoder is stepped through the prefix incrementally (the same ``step`` calls as greedy
    search); PAD and BOS get -inf, as in every search strategy.

    Shapes: src, src_mask (B, S); prefix (B, t) piece ids without BOS, t ≥ 0 -> (B, V).
    """
    with eval_mode(model):
        state = model.init_state(model.encode(src, src_mask))
        prev = src.new_full((src.size(0),), model.bos_id)  # (B,)
        for j in range(prefix.size(1) + 1):
            out = model.step(prev, state)
            if j < prefix.size(1):
                state, prev = out.state, prefix[:, j]  # (B,)
    no_limit = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)  # (B,)
    return next_log_probs(model, out.logits, no_limit)  # (B, V)


def temperature_probs(log_probs: Tensor, temperature: float, top_k: int = 0) -> Tensor:
    """The distribution that sampling at ``temperature`` (and ``top_k``) draws from.

    Shapes: log_probs (..., V) -> (..., V).
    """
    if temperature <= 0:
        raise ConfigError(f"temperature must be > 0 (use greedy for 0), got {temperature}")
    return sampling_probs(log_probs, temperature, top_k)


def entropy(probs: Tensor) -> Tensor:
    """H(p) = -Σ p log p in nats, with 0 log 0 = 0. Shapes: probs (..., V) -> (...)."""
    return -(probs * probs.clamp_min(1e-30).log()).sum(dim=-1)  # (...)
