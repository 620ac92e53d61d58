"""The Transformer encoder-decoder of "Attention Is All You Need" (Vaswani et al., 2017).

Embeddings scaled by √d_model plus sinusoidal positions; N encoder layers of self-attention and a
position-wise feed-forward network; N decoder layers of causal self-attention, cross-attention to
the encoder memory and a feed-forward network. Every sub-layer is wrapped in a residual
connection with LayerNorm, after it as in the paper (post-LN) or before it by option (pre-LN,
which trains more easily when deep).

Incremental decoding keeps, per decoder layer, the cross-attention keys/values of the memory
(projected once per sentence) and a cache of the self-attention keys/values of every target
position so far: a step computes only the newest position.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt.attention import MultiHeadAttention, key_mask
from nmt.models.base import Attention, AttentionLayout, DecoderState, Encoded, Seq2Seq, StepOutput

KV = tuple[Tensor, Tensor]


class SinusoidalPositions(nn.Module):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d))."""

    def __init__(self, d_model: int, max_len: int = 4096) -> None:
        super().__init__()
        pos = torch.arange(max_len).unsqueeze(1)  # (P, 1)
        inv_freq = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))  # (D/2,)
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(pos * inv_freq)
        pe[:, 1::2] = torch.cos(pos * inv_freq)
        self.register_buffer("pe", pe, persistent=False)  # (P, D)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """Add the encodings of positions offset … offset+L-1. Shapes: x (B, L, D) -> (B, L, D)."""
        if offset + x.size(1) > self.pe.size(0):
            raise ValueError(f"sequence of {offset + x.size(1)} positions exceeds max_len={self.pe.size(0)}")
        return x + self.pe[offset : offset + x.size(1)]


class FeedForward(nn.Module):
    """FFN(x) = max(0, x W_1 + b_1) W_2 + b_2.

    ``dropout`` here acts on the inner d_ff-wide activation. The paper does not use it (its
    dropout is on sub-layer outputs and embeddings), and on a CPU generating its masks is costly
    (d_ff values a token), so it defaults to 0 in ``Transformer``.
    """

    def __init__(self, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.W_1 = nn.Linear(d_model, d_ff)
        self.W_2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """Shapes: (B, L, D) -> (B, L, D)."""
        return self.W_2(self.dropout(F.relu(self.W_1(x))))


class Residual(nn.Module):
    """x + Dropout(Sublayer(x)) with LayerNorm after the sum (post-LN) or on the input (pre-LN)."""

    def __init__(self, d_model: int, dropout: float, pre_norm: bool) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.pre_norm = pre_norm

    def normed_input(self, x: Tensor) -> Tensor:
        """What the sub-layer reads: LayerNorm(x) in pre-LN, x itself in post-LN."""
        return self.norm(x) if self.pre_norm else x

    def forward(self, x: Tensor, sublayer_out: Tensor) -> Tensor:
        """Shapes: x, sublayer_out (B, L, D) -> (B, L, D)."""
        y = x + self.dropout(sublayer_out)
        return y if self.pre_norm else self.norm(y)


class EncoderLayer(nn.Module):
    """Self-attention over the source, then the feed-forward network."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float,
        attn_dropout: float,
        ffn_dropout: float,
        pre_norm: bool,
    ):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads, attn_dropout)
        self.ff = FeedForward(d_model, d_ff, ffn_dropout)
        self.res_attn = Residual(d_model, dropout, pre_norm)
        self.res_ff = Residual(d_model, dropout, pre_norm)

    def forward(self, x: Tensor, mask: Tensor, need_weights: bool) -> tuple[Tensor, Tensor | None]:
        """Shapes: x (B, S, D); mask (B, 1, 1, S) -> (B, S, D), weights (B, h, S, S) or None."""
        h = self.res_attn.normed_input(x)
        k, v = self.self_attn.project_kv(h)  # (B, h, S, d_k) each
        a, weights = self.self_attn(h, k, v, mask, need_weights=need_weights)
        x = self.res_attn(x, a)
        return self.res_ff(x, self.ff(self.res_ff.normed_input(x))), weights


class DecoderLayer(nn.Module):
    """Causal self-attention, cross-attention to the memory, then the feed-forward network."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float,
        attn_dropout: float,
        ffn_dropout: float,
        pre_norm: bool,
    ):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads, attn_dropout)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, attn_dropout)
        self.ff = FeedForward(d_model, d_ff, ffn_dropout)
        self.res_self = Residual(d_model, dropout, pre_norm)
        self.res_cross = Residual(d_model, dropout, pre_norm)
        self.res_ff = Residual(d_model, dropout, pre_norm)

    def forward(
        self, y: Tensor, memory_kv: KV, src_mask: Tensor, cache: KV | None, need_weights: bool
    ) -> tuple[Tensor, KV, Tensor | None, Tensor | None]:
        """One decoder layer over the full target (``cache`` None) or over its newest positions.

        Shapes:
            y: (B, T, D) — all positions, or (B, 1, D), the newest one, when a cache is given
            memory_kv: 2 × (B, h, S, d_k); src_mask: (B, 1, 1, S)
            cache: 2 × (B, h, t, d_k) keys/values of the t earlier positions, or None
            returns y (B, T, D), the self-attention keys/values so far 2 × (B, h, t+T, d_k),
            cross weights (B, h, T, S) and self weights (B, h, T, t+T) or None
        """
        h = self.res_self.normed_input(y)
        k, v = self.self_attn.project_kv(h)  # (B, h, T, d_k)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)  # (B, h, t+T, d_k)
        # A full target needs the causal mask; the newest position may see every cached one.
        a, self_w = self.self_attn(h, k, v, is_causal=cache is None, need_weights=need_weights)
        y = self.res_self(y, a)
        c, cross_w = self.cross_attn(self.res_cross.normed_input(y), *memory_kv, src_mask, need_weights=need_weights)
        y = self.res_cross(y, c)
        y = self.res_ff(y, self.ff(self.res_ff.normed_input(y)))
        return y, (k, v), cross_w, self_w


@dataclass
class TransformerState(DecoderState):
    """Incremental decoding state; every tensor has batch on dim 0.

    Shapes: memory_kv per layer 2 × (B, h, S, d_k); self_kv per layer 2 × (B, h, t, d_k);
    src_mask (B, S); position = t, the number of target positions decoded so far.
    """

    memory_kv: list[KV]
    self_kv: list[KV]
    src_mask: Tensor
    position: int = 0

    source_fields: ClassVar[tuple[str, ...]] = ("memory_kv", "src_mask")


def _stack_layers(weights: list[Tensor | None]) -> Tensor | None:
    """Per-layer (B, h, T, S) weights -> (B, L, h, T, S), or None when not asked for."""
    return None if weights[0] is None else torch.stack(weights, dim=1)  # (B, L, h, T, S)


class Transformer(Seq2Seq):
    """The full encoder-decoder.

    Args:
        src_vocab_size, tgt_vocab_size: vocabulary sizes V_src, V.
        pad_id, bos_id, eos_id: special ids of the vocabulary.
        shared_vocab: source and target share one vocabulary (then ``share_embeddings`` ties
            the source and target embedding matrices, as in the paper).
        d_model, n_heads, d_ff: widths; enc_layers, dec_layers: N for each stack.
        dropout: on the embedding sums and every sub-layer output (the paper's P_drop).
        attn_dropout: on attention weights; ffn_dropout: on the FFN's inner activation (not in the paper).
        pre_norm: LayerNorm before each sub-layer (plus a final one) instead of after it.
        tie_output: the output projection reuses the target embedding matrix.
    """

    display_name: ClassVar[str] = "Transformer"
    flops_formula: ClassVar[str] = (
        "forward FLOPs of a pair (S source, T target tokens) = S·[Le(8D²+4DF) + Ld·4D²] + Le·4DS² "
        "+ T·[Ld(12D²+4DF) + 2DV] + Ld·4D(T²+TS); per target token = Σ over the batches' real tokens / ΣT "
        "(so the encoder work per source token is scaled by the source/target token ratio); training = 3 × forward; "
        "matmuls only, multiply-add = 2 FLOPs"
    )

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        pad_id: int,
        bos_id: int,
        eos_id: int,
        shared_vocab: bool,
        d_model: int = 256,
        n_heads: int = 4,
        enc_layers: int = 3,
        dec_layers: int = 3,
        d_ff: int = 1024,
        dropout: float = 0.1,
        attn_dropout: float = 0.0,
        ffn_dropout: float = 0.0,
        pre_norm: bool = False,
        tie_output: bool = True,
        share_embeddings: bool = True,
        max_positions: int = 4096,
    ) -> None:
        super().__init__(pad_id, bos_id, eos_id)
        self.d_model, self.n_heads = d_model, n_heads
        self.tgt_embed = nn.Embedding(tgt_vocab_size, d_model, padding_idx=pad_id)
        if shared_vocab and share_embeddings:
            if src_vocab_size != tgt_vocab_size:
                raise ValueError(f"a shared vocabulary needs equal sizes, got {src_vocab_size} and {tgt_vocab_size}")
            self.src_embed = self.tgt_embed
        else:
            self.src_embed = nn.Embedding(src_vocab_size, d_model, padding_idx=pad_id)
        self.positions = SinusoidalPositions(d_model, max_positions)
        self.dropout = nn.Dropout(dropout)
        layer_args = (d_model, n_heads, d_ff, dropout, attn_dropout, ffn_dropout, pre_norm)
        self.encoder = nn.ModuleList(EncoderLayer(*layer_args) for _ in range(enc_layers))
        self.decoder = nn.ModuleList(DecoderLayer(*layer_args) for _ in range(dec_layers))
        # Pre-LN leaves the residual stream un-normalised: one LayerNorm closes each stack.
        self.enc_norm = nn.LayerNorm(d_model) if pre_norm else nn.Identity()
        self.dec_norm = nn.LayerNorm(d_model) if pre_norm else nn.Identity()
        self.out_proj = None if tie_output else nn.Linear(d_model, tgt_vocab_size, bias=False)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        for name, p in self.named_parameters():
            if p.dim() > 1 and "embed" not in name:
                nn.init.xavier_uniform_(p)
        for emb in {self.src_embed, self.tgt_embed}:
            # N(0, d^-1/2): after the √d scaling the inputs have unit variance, and a tied output
            # projection starts with logits of a sensible size.
            nn.init.normal_(emb.weight, std=self.d_model**-0.5)
            nn.init.zeros_(emb.weight[self.pad_id])

    def _embed(self, embedding: nn.Embedding, tokens: Tensor, offset: int = 0) -> Tensor:
        """Dropout(E x · √d + PE). Shapes: tokens (B, L) -> (B, L, D)."""
        return self.dropout(self.positions(embedding(tokens) * math.sqrt(self.d_model), offset))

    def _logits(self, y: Tensor) -> Tensor:
        """Shapes: (B, T, D) -> (B, T, V)."""
        return F.linear(y, self.tgt_embed.weight) if self.out_proj is None else self.out_proj(y)

    def untie_output(self) -> None:
        """The tied projection (the target embedding matrix) as its own Linear, for ``nmt.int8``."""
        if self.out_proj is None:
            weight = self.tgt_embed.weight  # (V, D)
            self.out_proj = nn.Linear(weight.shape[1], weight.shape[0], bias=False, device=weight.device)
            self.out_proj.weight = nn.Parameter(weight.detach().clone(), requires_grad=weight.requires_grad)

    def encode(self, src: Tensor, src_mask: Tensor, need_weights: bool = False) -> Encoded:
        """Shapes: src, src_mask (B, S) -> memory (B, S, D), attention (B, L, h, S, S) or None."""
        x = self._embed(self.src_embed, src)  # (B, S, D)
        mask = key_mask(src_mask)  # (B, 1, 1, S)
        weights = []
        for layer in self.encoder:
            x, w = layer(x, mask, need_weights)
            weights.append(w)
        return Encoded(self.enc_norm(x), src_mask, _stack_layers(weights))

    def init_state(self, encoded: Encoded) -> TransformerState:
        """Project the memory into each layer's cross-attention keys/values once per sentence."""
        memory_kv = [layer.cross_attn.project_kv(encoded.memory) for layer in self.decoder]
        B = encoded.memory.size(0)
        empty = encoded.memory.new_zeros(B, self.n_heads, 0, self.d_model // self.n_heads)  # (B, h, 0, d_k)
        return TransformerState(memory_kv, [(empty, empty)] * len(self.decoder), encoded.mask, 0)

    def _decode(
        self, y: Tensor, memory_kv: list[KV], src_mask: Tensor, caches: list[KV] | None, need_weights: bool
    ) -> tuple[Tensor, list[KV], list[Tensor | None], list[Tensor | None]]:
        """Run the decoder stack. Shapes: y (B, T, D) -> (B, T, D), per-layer caches and weights."""
        mask = key_mask(src_mask)  # (B, 1, 1, S)
        new_caches, cross, selfs = [], [], []
        for i, layer in enumerate(self.decoder):
            y, kv, cross_w, self_w = layer(y, memory_kv[i], mask, None if caches is None else caches[i], need_weights)
            new_caches.append(kv)
            cross.append(cross_w)
            selfs.append(self_w)
        return self.dec_norm(y), new_caches, cross, selfs

    def step(self, prev_tokens: Tensor, state: TransformerState, need_weights: bool = False) -> StepOutput:
        """Decode one position. Shapes: prev_tokens (B,) -> logits (B, V), attention (B, L, h, S)."""
        y = self._embed(self.tgt_embed, prev_tokens[:, None], state.position)  # (B, 1, D)
        y, caches, cross, _ = self._decode(y, state.memory_kv, state.src_mask, state.self_kv, need_weights)
        logits = self._logits(y[:, -1])  # (B, V)
        attn = _stack_layers(cross)
        new_state = replace(state, self_kv=caches, position=state.position + 1)
        return StepOutput(logits, new_state, None if attn is None else attn[:, :, :, -1])  # (B, L, h, S)

    def forward(
        self, src: Tensor, src_mask: Tensor, tgt_in: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, Attention | None]:
        """Teacher forcing. Shapes: src, src_mask (B, S); tgt_in (B, T) -> logits (B, T, V)."""
        encoded = self.encode(src, src_mask, need_weights)
        memory_kv = [layer.cross_attn.project_kv(encoded.memory) for layer in self.decoder]
        y = self._embed(self.tgt_embed, tgt_in)  # (B, T, D)
        y, _, cross, selfs = self._decode(y, memory_kv, src_mask, None, need_weights)
        if not need_weights:
            return self._logits(y), None
        return self._logits(y), Attention(_stack_layers(cross), encoded.attention, _stack_layers(selfs))

    # ------------------------------------------------------------------ what the package asks the model
    def attention_layout(self) -> AttentionLayout:
        """Multi-head cross-attention in every decoder layer; encoder and decoder self-attention."""
        return AttentionLayout(
            self.cross_attention_name, "multi-head", len(self.decoder), self.n_heads, self_attention=True
        )

    @classmethod
    def describe(cls, net: Mapping[str, Any]) -> str:
        """E.g. "Transformer (3+3 layers, 256 wide, 4 heads)"."""
        return (
            f"Transformer ({net.get('enc_layers')}+{net.get('dec_layers')} layers, {net.get('d_model')} wide, "
            f"{net.get('n_heads')} heads)"
        )

    def forward_flops(self, src_len: int, tgt_len: int) -> int:
        """Forward FLOPs of one pair (``flops_formula``; sizes read off the built model, see ``TransformerDims``)."""
        return TransformerDims.of(self).forward_flops(src_len, tgt_len)


@dataclass(frozen=True)
class TransformerDims:
    """The sizes the Transformer's FLOPs depend on (D = d_model, F = d_ff, Le / Ld layers, V vocabulary).

    Forward FLOPs of one pair (S source, T target tokens, EOS/BOS included)::

        S · [Le·(8D² + 4DF) + Ld·4D²]       encoder Q, K, V, O and FFN per source token; the cross-attention
                                             K, V projection of the memory in each decoder layer
      + Le · 4D·S²                          encoder self-attention scores QKᵀ and the weighted sum AV
      + T · [Ld·(12D² + 4DF) + 2DV]         decoder self-attention Q, K, V, O, cross-attention Q, O, FFN;
                                             the vocabulary projection
      + Ld · 4D·(T² + T·S)                  decoder self- and cross-attention scores and sums
    """

    d_model: int
    d_ff: int
    enc_layers: int
    dec_layers: int
    vocab: int

    @classmethod
    def of(cls, model: Transformer) -> TransformerDims:
        """Read the sizes off a built model (so they match the weights, whatever the config said)."""
        layer = model.encoder[0] if len(model.encoder) else model.decoder[0]
        vocab = model.tgt_embed.num_embeddings if model.out_proj is None else model.out_proj.out_features
        return cls(model.d_model, layer.ff.W_1.out_features, len(model.encoder), len(model.decoder), vocab)

    def forward_flops(self, src_len: int, tgt_len: int) -> int:
        """Forward FLOPs of one sentence pair (see the class docstring)."""
        D, F, Le, Ld, V = self.d_model, self.d_ff, self.enc_layers, self.dec_layers, self.vocab
        S, T = src_len, tgt_len
        encoder = S * (Le * (8 * D * D + 4 * D * F) + Ld * 4 * D * D) + Le * 4 * D * S * S
        decoder = T * (Ld * (12 * D * D + 4 * D * F) + 2 * D * V) + Ld * 4 * D * (T * T + T * S)
        return encoder + decoder
