"""Attention, written as the papers write it.

* Masks: boolean, True = may attend (the convention of ``F.scaled_dot_product_attention``).
  They are built here and nowhere else. Every source row keeps at least one True (sources end
  in EOS), so no softmax row is fully masked.
* ``AdditiveAttention``: Bahdanau et al. (2015), e_ij = v_aᵀ tanh(W_a s_{i-1} + U_a h_j).
* ``MultiHeadAttention``: Vaswani et al. (2017), softmax(QKᵀ/√d_k)V over h heads, with a fused
  path (SDPA) when the weights are not needed and an explicit path that returns them.
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel


def padding_mask(tokens: Tensor, pad_id: int) -> Tensor:
    """True where ``tokens`` is a real token.

    Shapes: tokens (B, S) -> (B, S) bool.
    """
    return tokens.ne(pad_id)


def causal_mask(length: int, device: torch.device | None = None) -> Tensor:
    """Lower-triangular mask: position i may attend to positions j <= i.

    Shapes: -> (T, T) bool.
    """
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


def key_mask(mask: Tensor) -> Tensor:
    """A (B, S) key mask broadcast over heads and queries: (B, 1, 1, S)."""
    return mask[:, None, None, :]  # (B, 1, 1, S)


class AdditiveAttention(nn.Module):
    """Bahdanau attention: e_ij = v_aᵀ tanh(W_a s_{i-1} + U_a h_j); α_i = softmax(e_i); c_i = Σ_j α_ij h_j.

    ``U_a h_j`` does not depend on the decoder step, so it is computed once per sentence by
    ``project_keys`` and passed to every step.
    """

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int) -> None:
        super().__init__()
        self.W_a = nn.Linear(query_dim, attn_dim, bias=False)
        self.U_a = nn.Linear(key_dim, attn_dim)
        self.v_a = nn.Linear(attn_dim, 1, bias=False)

    def project_keys(self, annotations: Tensor) -> Tensor:
        """U_a h_j for every source position. Shapes: (B, S, 2H) -> (B, S, A)."""
        return self.U_a(annotations)

    def forward(self, s_prev: Tensor, keys: Tensor, annotations: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """One decoder step of attention.

        Shapes:
            s_prev: (B, H) previous decoder state s_{i-1}
            keys: (B, S, A) from ``project_keys``
            annotations: (B, S, 2H) encoder annotations h_j
            mask: (B, S) True on real source positions
            returns context c_i (B, 2H) and weights α_i (B, S)
        """
        e = self.v_a(torch.tanh(self.W_a(s_prev).unsqueeze(1) + keys)).squeeze(-1)  # (B, S)
        e = e.masked_fill(~mask, float("-inf"))
        alpha = torch.softmax(e, dim=-1)  # (B, S)
        context = torch.bmm(alpha.unsqueeze(1), annotations).squeeze(1)  # (B, 2H)
        return context, alpha


def _slow_fused_backward(q: Tensor) -> bool:
    """True when SDPA would pick a kernel whose backward is slow: the CPU's fused (flash) kernel in bf16.

    Its backward took 2.1-3.3x the time of the unfused (math) one on a 2-core Xeon, one thread, at Multi30k's
    shapes (docs/results/cpu-levers/, "bf16 attention"); its forward is fast, so decoding keeps it.
    """
    return q.requires_grad and q.device.type == "cpu" and q.dtype == torch.bfloat16


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    is_causal: bool = False,
    dropout_p: float = 0.0,
    need_weights: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """softmax(QKᵀ/√d_k)V. Fused (SDPA) unless the weights are asked for.

    Shapes:
        q: (B, h, T, d_k); k, v: (B, h, S, d_k)
        mask: broadcastable to (B, h, T, S), True = may attend
        returns (B, h, T, d_k) and weights (B, h, T, S) or None
    """
    if not need_weights:
        with sdpa_kernel(SDPBackend.MATH) if _slow_fused_backward(q) else nullcontext():
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal)
        return out, None
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, h, T, S)
    if is_causal:
        causal = causal_mask(k.size(-2), q.device)[-q.size(-2) :]  # (T, S)
        mask = causal if mask is None else mask & causal
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (B, h, T, S)
    out = F.dropout(weights, dropout_p) @ v  # (B, h, T, d_k)
    return out, weights


class MultiHeadAttention(nn.Module):
    """MultiHead(Q, K, V) = Concat(head_1..head_h) W^O, head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V).

    Keys and values are projected by ``project_kv`` so that callers can cache them: the
    decoder's cross-attention projects the encoder memory once per sentence, and its
    self-attention appends one step's keys and values to a cache.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.d_k = d_model // n_heads
        self.dropout = dropout
        self.W_q = nn.Linear(d_model, d_model)
        self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model)
        self.W_o = nn.Linear(d_model, d_model)

    def split_heads(self, x: Tensor) -> Tensor:
        """(B, L, D) -> (B, h, L, d_k)."""
        return x.unflatten(-1, (self.n_heads, self.d_k)).transpose(1, 2)  # (B, h, L, d_k)

    def project_kv(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """K = x W^K and V = x W^V split into heads. Shapes: (B, S, D) -> 2 × (B, h, S, d_k)."""
        return self.split_heads(self.W_k(x)), self.split_heads(self.W_v(x))

    def forward(
        self,
        x: Tensor,
        k: Tensor,
        v: Tensor,
        mask: Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from queries ``x`` to projected keys/values.

        Shapes:
            x: (B, T, D); k, v: (B, h, S, d_k); mask: broadcastable to (B, h, T, S)
            returns (B, T, D) and weights (B, h, T, S) or None
        """
        q = self.split_heads(self.W_q(x))  # (B, h, T, d_k)
        p = self.dropout if self.training else 0.0
        out, weights = scaled_dot_product_attention(q, k, v, mask, is_causal, p, need_weights)
        out = out.transpose(1, 2).flatten(2)  # (B, T, D)
        return self.W_o(out), weights
