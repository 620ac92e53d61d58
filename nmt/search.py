"""Decoding: greedy search, batched beam search and temperature / top-k sampling.

Every strategy drives a model through the contract of ``nmt.models.base`` only (``encode``,
``init_state``, ``step``, ``reorder_state``) and feeds one token per step: the model carries the
prefix in its state (a KV cache, a GRU state), so a step never re-reads the whole prefix.

Conventions shared by all strategies:

* A hypothesis has at most ``floor(a · S_real + b)`` tokens, S_real the source's real length
  (EOS included, padding excluded). At that length the only allowed next token is EOS: every
  hypothesis ends in a scored EOS, so ``log_prob`` always counts it.
* PAD and BOS are never produced (their log-probabilities are set to -inf before choosing);
  hypotheses hold the piece ids between BOS and EOS, both excluded.
* Rows (sentences or beams) that are finished leave the active batch through ``reorder_state``,
  so late steps only pay for the sentences still being decoded.

Beam search lives in ``nmt.beam``; the pieces every strategy shares in ``nmt.hypotheses``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from nmt.beam import beam_search
from nmt.decode_settings import STRATEGIES, DecodeSettings
from nmt.hypotheses import Hypothesis, length_penalty, make_hypothesis, max_lengths, next_log_probs, row
from nmt.int8 import int8_model
from nmt.models.base import Seq2Seq

__all__ = [
    "STRATEGIES",
    "DecodeSettings",
    "Hypothesis",
    "beam_search",
    "decode",
    "greedy",
    "length_penalty",
    "max_lengths",
    "next_log_probs",
    "sample",
]


def decode(
    model: Seq2Seq, src: Tensor, src_mask: Tensor, settings: DecodeSettings, need_weights: bool = False
) -> list[list[Hypothesis]]:
    """Decode a batch with ``settings``: up to n_best hypotheses per sentence (1 for greedy and sample), best first.

    A source of EOS alone (an empty or blank line) gets one empty hypothesis (score 0, no
    attention), whatever the model would write: outputs stay line for line with the source file.

    Shapes: src, src_mask (B, S).
    """
    if settings.precision == "int8":
        model = int8_model(model)  # a quantized copy, cached while the weights stay the same
    bf16 = settings.precision == "bf16"
    with torch.autocast(src.device.type, dtype=torch.bfloat16, enabled=bf16):  # fp32: no change at all
        found = _search(model, src, src_mask, settings, need_weights)
    blank = (src_mask.sum(dim=1) <= 1).tolist()  # (B,) only the EOS position is real
    return [[Hypothesis([], 0.0, 0.0)] if empty else hyps for empty, hyps in zip(blank, found, strict=True)]


def _search(
    model: Seq2Seq, src: Tensor, src_mask: Tensor, settings: DecodeSettings, need_weights: bool
) -> list[list[Hypothesis]]:
    """The strategy of ``settings`` on the batch: up to n_best hypotheses per sentence."""
    a, b = settings.max_len_a, settings.max_len_b
    if settings.strategy == "beam":
        k, alpha, n = settings.beam_size, settings.length_penalty, settings.n_best
        found = beam_search(model, src, src_mask, k, alpha, n, a, b, need_weights, settings.stopping)
    elif settings.strategy == "sample":
        generator = None
        if settings.seed is not None:
            generator = torch.Generator(device=src.device).manual_seed(settings.seed)
        hyps = sample(model, src, src_mask, settings.temperature, settings.top_k, a, b, generator, need_weights)
        found = [[h] for h in hyps]
    else:
        found = [[h] for h in greedy(model, src, src_mask, a, b, need_weights)]
    return found


# ---- greedy and sampling -------------------------------------------------------------------------


@torch.inference_mode()
def greedy(
    model: Seq2Seq, src: Tensor, src_mask: Tensor, max_len_a: float, max_len_b: int, need_weights: bool = False
) -> list[Hypothesis]:
    """The most likely next piece at every step, for the whole batch at once.

    Shapes: src, src_mask (B, S) -> B hypotheses (score = log_prob).
    """
    return _left_to_right(model, src, src_mask, max_len_a, max_len_b, lambda logp: logp.argmax(dim=-1), need_weights)


@torch.inference_mode()
def sample(
    model: Seq2Seq,
    src: Tensor,
    src_mask: Tensor,
    temperature: float,
    top_k: int,
    max_len_a: float,
    max_len_b: int,
    generator: torch.Generator | None = None,
    need_weights: bool = False,
) -> list[Hypothesis]:
    """Draw each piece from softmax(logits / temperature), optionally among the top k only.

    ``log_prob`` and ``score`` are the model's own log-probability (temperature 1) of the sample.
    The same ``generator`` state gives the same samples.

    Shapes: src, src_mask (B, S) -> B hypotheses.
    """
    if temperature <= 0 or top_k < 0:
        raise ValueError(f"sample needs temperature > 0 and top_k >= 0, got {temperature} and {top_k}")

    def draw(logp: Tensor) -> Tensor:  # (B, V) -> (B,)
        probs = sampling_probs(logp, temperature, top_k)  # (B, V)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B,)

    return _left_to_right(model, src, src_mask, max_len_a, max_len_b, draw, need_weights)


def sampling_probs(log_probs: Tensor, temperature: float, top_k: int = 0) -> Tensor:
    """The distribution sampling draws from: softmax(log p / T), among the top k pieces when k > 0.

    Shapes: log_probs (..., V) -> (..., V), each row summing to 1.
    """
    scaled = log_probs / temperature  # (..., V)
    if 0 < top_k < scaled.size(-1):
        kth = scaled.topk(top_k, dim=-1).values[..., -1:]  # (..., 1)
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    return torch.softmax(scaled, dim=-1)  # (..., V)


def _left_to_right(
    model: Seq2Seq,
    src: Tensor,
    src_mask: Tensor,
    max_len_a: float,
    max_len_b: int,
    choose: Callable[[Tensor], Tensor],
    need_weights: bool,
) -> list[Hypothesis]:
    """One hypothesis per sentence, one piece per step picked by ``choose`` from (B', V) log-probs.

    Shapes: src, src_mask (B, S).
    """
    B = src.size(0)
    limits = max_lengths(src_mask, max_len_a, max_len_b)  # (B,)
    steps = int(limits.max()) + 1  # the last step can only be EOS
    tokens = src.new_full((B, steps), model.eos_id)  # (B, T)
    lengths = limits.clone()  # (B,) tokens before EOS; every row ends by its limit
    log_prob = torch.zeros(B, device=src.device)  # (B,)
    history: Tensor | None = None  # (B, T, L, h, S) cross-attention per step
    active = torch.arange(B, device=src.device)  # (B',) rows of the batch still decoding
    state = model.init_state(model.encode(src, src_mask))
    prev = src.new_full((B,), model.bos_id)  # (B',)
    for t in range(steps):
        out = model.step(prev, state, need_weights)
        logp = next_log_probs(model, out.logits, limits[active] == t)  # (B', V)
        choice = choose(logp)  # (B',)
        tokens[active, t] = choice
        log_prob[active] += logp.gather(1, choice[:, None]).squeeze(1)  # (B',)
        if out.attention is not None:
            if history is None:
                history = out.attention.new_zeros(B, steps, *out.attention.shape[1:])  # (B, T, L, h, S)
            history[active, t] = out.attention
        done = choice == model.eos_id  # (B',)
        lengths[active[done]] = t
        if bool(done.all()):
            break
        state, prev = out.state, choice
        if bool(done.any()):  # drop finished rows: later steps only run the live ones
            keep = (~done).nonzero().squeeze(1)  # (B'',)
            state, prev, active = model.reorder_state(state, keep), prev[keep], active[keep]
    return [
        make_hypothesis(tokens[i, : lengths[i]], float(log_prob[i]), float(log_prob[i]), row(history, i), src_mask[i])
        for i in range(B)
    ]
