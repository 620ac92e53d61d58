"""Batched beam search over sentences × beams (``nmt.search.decode`` calls it for ``strategy="beam"``).

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

Stopping rule ``"shortest"`` (faster, not exact): the bound assumes every live beam ends at its
shortest completion, ``s / lp(t + 2)``, as common toolkits do. It is the exact rule when alpha <= 0
(the shortest completion is then the best one); with alpha > 0 it can stop a sentence before a longer
hypothesis that would have won, so it saves the steps of beams that can only win by growing longer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.decode_settings import STOPPING
from nmt.hypotheses import Hypothesis, length_penalty, make_hypothesis, max_lengths, next_log_probs
from nmt.models.base import Seq2Seq

__all__ = ["beam_search"]


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
    stopping: str = "exact",
) -> list[list[Hypothesis]]:
    """Batched beam search over sentences × beams (see the module docstring for the stopping rules).

    Shapes: src, src_mask (B, S) -> per sentence up to n_best distinct hypotheses, best score first.
    """
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"beam search needs 1 <= n_best <= beam_size, got n_best={n_best}, beam_size={beam_size}")
    if stopping not in STOPPING:
        raise ValueError(f"beam search stopping must be one of {STOPPING}, got {stopping!r}")
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
        done = _sentences_done(finished, beams, scores, t, length_penalty, stopping == "exact")  # (B',)
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
        hyp = make_hypothesis(beams.tokens[row], log_prob, log_prob / lp, attention, src_mask[sentence])
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


def _sentences_done(
    finished: _Finished, beams: _Beams, scores: Tensor, t: int, alpha: float, exact: bool = True
) -> Tensor:
    """Which sentences are settled (the exact rule of the module docstring, or "shortest" when not ``exact``).

    Shapes: scores (B', K') of the new live prefixes, which have t + 1 tokens -> (B',) bool.
    """
    nth = finished.top[beams.sentence, -1]  # (B',) the n-th best finished score, -inf if fewer
    best_live = scores.max(dim=1).values  # (B',)
    best_lp = length_penalty(torch.full_like(beams.limits, t + 2), alpha)  # (B',) t + 1 tokens and EOS
    if exact:  # ... or at the longest length still possible, whichever divides by more
        best_lp = torch.maximum(best_lp, length_penalty(beams.limits + 1, alpha))  # (B',)
    reachable = best_live / best_lp  # (B',) the best score a live beam can still finish with (exact: at most)
    no_live = best_live == float("-inf")  # (B',)
    return no_live | (nth >= reachable)
