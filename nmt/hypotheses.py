"""What every search strategy shares: a finished hypothesis, the length limit, the length penalty,
and the next-token log-probabilities with PAD and BOS banned (see ``nmt.search`` for the conventions).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.models.base import Seq2Seq

__all__ = ["Hypothesis", "length_penalty", "make_hypothesis", "max_lengths", "next_log_probs", "row"]


@dataclass
class Hypothesis:
    """One decoded target sentence.

    Shapes: attention (L, h, len(tokens) + 1, S_real): cross-attention of every step, EOS included,
    over the real source positions only; None unless asked for.
    """

    tokens: list[int]
    score: float
    log_prob: float
    attention: Tensor | None = None


def max_lengths(src_mask: Tensor, max_len_a: float, max_len_b: int) -> Tensor:
    """Most tokens (EOS excluded) each hypothesis may have. Shapes: src_mask (B, S) -> (B,) long."""
    return (max_len_a * src_mask.sum(dim=1) + max_len_b).floor().long()  # (B,)


def length_penalty(length: Tensor | int, alpha: float) -> Tensor | float:
    """GNMT lp(|Y|) = ((5 + |Y|) / 6) ** alpha, |Y| counting EOS. Shapes: any -> same, float."""
    return ((5.0 + length) / 6.0) ** alpha


def next_log_probs(model: Seq2Seq, logits: Tensor, at_limit: Tensor) -> Tensor:
    """log p(y_t | y_<t, x) with PAD and BOS banned, and only EOS allowed on rows at their limit.

    Shapes: logits (B, V); at_limit (B,) bool -> (B, V).
    """
    logp = torch.log_softmax(logits.float(), dim=-1)  # (B, V)
    logp[:, model.pad_id] = float("-inf")
    logp[:, model.bos_id] = float("-inf")
    if bool(at_limit.any()):  # most steps have no row at its limit: skip a pass over (B, V)
        not_eos = torch.arange(logp.size(1), device=logp.device) != model.eos_id  # (V,)
        logp.masked_fill_(at_limit[:, None] & not_eos, float("-inf"))
    return logp  # (B, V)


def make_hypothesis(
    tokens: Tensor, log_prob: float, score: float, attention: Tensor | None, mask: Tensor
) -> Hypothesis:
    """Package one finished row.

    Shapes: tokens (T,) without EOS; attention (≥ T + 1, L, h, S) per step or None; mask (S,).
    """
    weights = None
    if attention is not None:
        steps = attention[: tokens.numel() + 1, ..., mask]  # (T + 1, L, h, S_real)
        weights = steps.permute(1, 2, 0, 3).float().contiguous()  # (L, h, T + 1, S_real), fp32 after bf16 decoding too
    return Hypothesis(tokens.tolist(), score, log_prob, weights)


def row(history: Tensor | None, i: int) -> Tensor | None:
    """Row ``i`` of a per-step attention history, or None when none was kept."""
    return None if history is None else history[i]
