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

Beam search
-----------
Sentences × beams are decoded as one flat batch of B·K rows with scores (B, K); the first step,
where every sentence has the empty prefix alone, runs on B rows. At each step the top 2K of the
K·V continuations of each sentence are taken; those ending in EOS and ranked in the top K are
finished hypotheses, scored with the GNMT length penalty ``score = log p(Y) / lp(|Y|)``,
``lp(n) = ((5 + n) / 6) ** alpha``, |Y| counting EOS; the best K that do not end in EOS are the
next live beams (among 2K there are always K, since each beam contributes at most one EOS).

Speed: the step's bookkeeping stays in tensors. Per sentence the n_best best finished scores are
kept as a (B, n_best) tensor, which is all the stopping rule reads; a finished candidate is
packaged as a ``Hypothesis`` only when it beats the n_best-th best so far. When no sentence
leaves the batch, beams are reordered ``within_sentences``: the model then copies only its
per-beam state (KV cache, GRU state), not the memory that all beams of a sentence share.

Stopping rule (exact): a sentence is done when it has ``n_best`` finished hypotheses and the
n_best-th best of them scores at least as well as anything a live beam could still reach, or when
no live beam is left (at its maximum length every live beam is forced to EOS). A live prefix with
log-prob s ≤ 0 can only lose probability, so any completion of length n scores at most
``s / lp(n)``; over the lengths still possible this is largest at ``max(lp(shortest), lp(longest))``.
The result is therefore the same as running every beam to the maximum length. With
``length_penalty=0`` and ``beam_size=1`` this is exactly greedy search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.decode_settings import STRATEGIES, DecodeSettings
from nmt.models.base import Seq2Seq

__all__ = ["STRATEGIES", "DecodeSettings", "Hypothesis", "beam_search", "decode", "greedy", "sample"]


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


def decode(
    model: Seq2Seq, src: Tensor, src_mask: Tensor, settings: DecodeSettings, need_weights: bool = False
) -> list[list[Hypothesis]]:
    """Decode a batch with ``settings``: up to n_best hypotheses per sentence (1 for greedy and sample), best first.

    A source of EOS alone (an empty or blank line) gets one empty hypothesis (score 0, no
    attention), whatever the model would write: outputs stay line for line with the source file.

    Shapes: src, src_mask (B, S).
    """
    a, b = settings.max_len_a, settings.max_len_b
    if settings.strategy == "beam":
        k, alpha, n = settings.beam_size, settings.length_penalty, settings.n_best
        found = beam_search(model, src, src_mask, k, alpha, n, a, b, need_weights)
    elif settings.strategy == "sample":
        generator = None
        if settings.seed is not None:
            generator = torch.Generator(device=src.device).manual_seed(settings.seed)
        hyps = sample(model, src, src_mask, settings.temperature, settings.top_k, a, b, generator, need_weights)
        found = [[h] for h in hyps]
    else:
        found = [[h] for h in greedy(model, src, src_mask, a, b, need_weights)]
    blank = (src_mask.sum(dim=1) <= 1).tolist()  # (B,) only the EOS position is real
    return [[Hypothesis([], 0.0, 0.0)] if empty else hyps for empty, hyps in zip(blank, found, strict=True)]


# ---- shared pieces -------------------------------------------------------------------------------


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


def _hypothesis(tokens: Tensor, log_prob: float, score: float, attention: Tensor | None, mask: Tensor) -> Hypothesis:
    """Package one finished row.

    Shapes: tokens (T,) without EOS; attention (≥ T + 1, L, h, S) per step or None; mask (S,).
    """
    weights = None
    if attention is not None:
        steps = attention[: tokens.numel() + 1, ..., mask]  # (T + 1, L, h, S_real)
        weights = steps.permute(1, 2, 0, 3).contiguous()  # (L, h, T + 1, S_real)
    return Hypothesis(tokens.tolist(), score, log_prob, weights)


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
        _hypothesis(tokens[i, : lengths[i]], float(log_prob[i]), float(log_prob[i]), _row(history, i), src_mask[i])
        for i in range(B)
    ]


def _row(history: Tensor | None, i: int) -> Tensor | None:
    return None if history is None else history[i]


# ---- beam search ---------------------------------------------------------------------------------


@dataclass
class _Beams:
    """The live beams of the sentences still being searched (B' sentences × k beams, flat rows).

    k is 1 at the first step (each sentence starts from the empty prefix alone), then up to K.
    Shapes: sentence (B',) index in the input batch; limits (B',) most tokens; scores (B', k)
    log-probs of the live prefixes, -inf for an empty slot; tokens (B'·k, t); attention
    (B'·k, t, L, h, S) or None.
    """

    sentence: Tensor
    limits: Tensor
    scores: Tensor
    tokens: Tensor
    attention: Tensor | None = None

    @classmethod
    def start(cls, limits: Tensor) -> _Beams:
        """One live beam, the empty prefix, per sentence."""
        B, device = limits.size(0), limits.device
        empty = torch.zeros(B, 0, dtype=torch.long, device=device)  # (B, 0)
        return cls(torch.arange(B, device=device), limits, torch.zeros(B, 1, device=device), empty)


@dataclass
class _Finished:
    """The finished hypotheses of every sentence of the input batch, and the n_best best scores of each.

    Shapes: top (B, n_best) the best scores so far, descending, -inf where fewer have finished.
    """

    hyps: list[list[Hypothesis]]
    top: Tensor

    @classmethod
    def start(cls, sentences: int, n_best: int, device: torch.device) -> _Finished:
        return cls([[] for _ in range(sentences)], torch.full((sentences, n_best), float("-inf"), device=device))

    def best(self, n_best: int) -> list[list[Hypothesis]]:
        """Per sentence the n_best best, best first (ties keep the order they finished in)."""
        return [sorted(hyps, key=lambda h: h.score, reverse=True)[:n_best] for hyps in self.hyps]


@torch.inference_mode()
def beam_search(
    model: Seq2Seq,
    src: Tensor,
    src_mask: Tensor,
    beam_size: int,
    length_penalty: float,
    n_best: int,
    max_len_a: float,
    max_len_b: int,
    need_weights: bool = False,
) -> list[list[Hypothesis]]:
    """Batched beam search over sentences × beams (see the module docstring for the stopping rule).

    Shapes: src, src_mask (B, S) -> per sentence up to n_best distinct hypotheses, best score first.
    """
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"beam search needs 1 <= n_best <= beam_size, got n_best={n_best}, beam_size={beam_size}")
    K = beam_size
    state = model.init_state(model.encode(src, src_mask))  # one row per sentence until the first step
    beams = _Beams.start(max_lengths(src_mask, max_len_a, max_len_b))
    finished = _Finished.start(src.size(0), n_best, src.device)
    prev = src.new_full((src.size(0),), model.bos_id)  # (B'·k,)
    for t in range(int(beams.limits.max()) + 1):
        out = model.step(prev, state, need_weights)
        k = beams.scores.size(1)
        logp = next_log_probs(model, out.logits, (beams.limits == t).repeat_interleave(k))  # (B'·k, V)
        values, origin, token = _top_candidates(beams.scores, logp, K)  # (B', C) each, C <= 2K
        if out.attention is not None:
            now = out.attention[:, None]  # (B'·k, 1, L, h, S)
            past = beams.attention
            beams.attention = now if past is None else torch.cat([past, now], dim=1)  # (B'·k, t + 1, L, h, S)
        _finalize(finished, beams, values, origin, token, model.eos_id, K, length_penalty, src_mask)
        scores, origin, token = _best_live(values, origin, token, model.eos_id, K)  # (B', K') each, K' <= K
        done = _sentences_done(finished, beams, scores, t, length_penalty)  # (B',)
        if bool(done.all()):
            break
        keep = (~done).nonzero().squeeze(1)  # (B'',) sentences still searching
        rows = (keep[:, None] * k + origin[keep]).flatten()  # (B''·K',) rows of the parent beams
        same_rows = keep.numel() == done.numel() and scores.size(1) == k  # each row stays in its sentence
        state = model.reorder_state(out.state, rows, within_sentences=same_rows)
        prev = token[keep].flatten()  # (B''·K',)
        beams = _Beams(
            sentence=beams.sentence[keep],
            limits=beams.limits[keep],
            scores=scores[keep],  # (B'', K')
            tokens=torch.cat([beams.tokens[rows], prev[:, None]], dim=1),  # (B''·K', t + 1)
            attention=None if beams.attention is None else beams.attention[rows],  # (B''·K', t + 1, L, h, S)
        )
    return finished.best(n_best)


def _top_candidates(scores: Tensor, logp: Tensor, beam_size: int) -> tuple[Tensor, Tensor, Tensor]:
    """The 2K best one-piece continuations of each sentence's live beams (fewer if k·V < 2K), best first.

    ``logp`` is overwritten (the sums are formed in place).

    Shapes: scores (B', k); logp (B'·k, V) -> values, origin beam, token: each (B', C), C = min(2K, k·V).
    """
    Bs, k = scores.shape
    V = logp.size(-1)
    total = logp.view(Bs, k, V).add_(scores[:, :, None])  # (B', k, V)
    values, flat = total.view(Bs, k * V).topk(min(2 * beam_size, k * V), dim=1)  # (B', C)
    return values, flat // V, flat % V


def _finalize(
    finished: _Finished,
    beams: _Beams,
    values: Tensor,
    origin: Tensor,
    token: Tensor,
    eos_id: int,
    beam_size: int,
    alpha: float,
    src_mask: Tensor,
) -> None:
    """Store the candidates that end in EOS and rank in the top K (as a K-beam would have kept them).

    Every candidate of step t has t pieces, so all share one length penalty. Those that cannot
    enter their sentence's n best (score at most the n-th best so far) are never packaged: the
    result is the same and the Python work stays small.

    Shapes: values, origin, token (B', C); src_mask (B, S) of the whole input batch.
    """
    t = beams.tokens.size(1)
    lp = length_penalty(t + 1, alpha)
    rank = torch.arange(values.size(1), device=values.device)  # (C,)
    scores = values / lp  # (B', C)
    bar = finished.top[beams.sentence, -1]  # (B',) the n-th best score so far
    ends = (token == eos_id) & (rank < beam_size) & values.isfinite() & (scores > bar[:, None])  # (B', C)
    found = ends.nonzero().tolist()
    if not found:
        return
    top = torch.cat([finished.top[beams.sentence], scores.masked_fill(~ends, float("-inf"))], dim=1)
    finished.top[beams.sentence] = top.topk(finished.top.size(1), dim=1).values  # (B', n_best)
    k = beams.scores.size(1)
    for b, j in found:
        row = b * k + int(origin[b, j])
        log_prob = float(values[b, j])
        attention = None if beams.attention is None else beams.attention[row]  # (t + 1, L, h, S)
        sentence = int(beams.sentence[b])
        hyp = _hypothesis(beams.tokens[row], log_prob, log_prob / lp, attention, src_mask[sentence])
        finished.hyps[sentence].append(hyp)


def _best_live(
    values: Tensor, origin: Tensor, token: Tensor, eos_id: int, beam_size: int
) -> tuple[Tensor, Tensor, Tensor]:
    """The K best candidates that do not end in EOS, best first (an EOS that fills a slot when there
    are fewer is an empty slot, score -inf).

    Shapes: values, origin, token (B', C) -> each (B', min(K, C)).
    """
    # A stable sort of the EOS flags moves the non-EOS candidates forward, keeping their rank order.
    ends = token == eos_id  # (B', C)
    order = ends.to(torch.int8).argsort(dim=1, stable=True)[:, :beam_size]  # (B', K')
    live = values.masked_fill(ends, float("-inf"))  # (B', C)
    return live.gather(1, order), origin.gather(1, order), token.gather(1, order)


def _sentences_done(finished: _Finished, beams: _Beams, scores: Tensor, t: int, alpha: float) -> Tensor:
    """Which sentences are settled (the exact rule of the module docstring).

    Shapes: scores (B', K') of the new live prefixes, which have t + 1 tokens -> (B',) bool.
    """
    nth = finished.top[beams.sentence, -1]  # (B',) the n-th best finished score, -inf if fewer
    best_live = scores.max(dim=1).values  # (B',)
    shortest = torch.full_like(beams.limits, t + 2)  # (B',) t + 1 tokens and EOS
    best_lp = torch.maximum(length_penalty(shortest, alpha), length_penalty(beams.limits + 1, alpha))  # (B',)
    reachable = best_live / best_lp  # (B',) the best score any live beam can still finish with
    no_live = best_live == float("-inf")  # (B',)
    return no_live | (nth >= reachable)
