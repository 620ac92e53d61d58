"""Bahdanau, Cho and Bengio (2015), "Neural Machine Translation by Jointly Learning to Align and Translate".

* Encoder: a bidirectional GRU reads x_1 … x_S; the annotation of word j is h_j = [→h_j ; ←h_j].
* Decoder: at target position i, attend to the annotations with the previous state s_{i-1}
  (α_i, c_i), update the state s_i = GRU(s_{i-1}, [E y_{i-1}; c_i]) and score the next word from
  (s_i, E y_{i-1}, c_i) through a deep output layer with maxout.

Symbols follow the paper: E embeddings, W/U/C the GRU's input/recurrent/context matrices,
W_s the initial-state bridge, W_a/U_a/v_a the alignment model, U_o/V_o/C_o/W_o the output layer.
The recurrent layers (the GRU cell, the bidirectional GRU) are in ``nmt.gru``, the alignment model in
``nmt.attention``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from nmt.attention import AdditiveAttention
from nmt.gru import GRUCell, bidirectional_gru, packed_bidirectional_gru
from nmt.models.base import Attention, AttentionLayout, DecoderState, Encoded, Seq2Seq, StepOutput

BRIDGES = ("backward", "mean")

# (s_{i-1}, W E y_{i-1}, keys, annotations, mask) -> (s_i, c_i, α_i): ``Bahdanau._position``
PositionFn = Callable[[Tensor, Tensor, Tensor, Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]


@dataclass
class BahdanauState(DecoderState):
    """What one decoder step needs, batch first.

    Shapes: s (B, L, H) the previous state s_{i-1} of each of the L decoder layers;
    keys (B, S, A) = U_a h_j; annotations (B, S, 2H) = h_j; mask (B, S) True on real source positions.
    """

    s: Tensor
    keys: Tensor
    annotations: Tensor
    mask: Tensor

    source_fields: ClassVar[tuple[str, ...]] = ("keys", "annotations", "mask")


class Bahdanau(Seq2Seq):
    """Bidirectional GRU encoder + attentive GRU decoder with a deep (maxout) output layer.

    Args:
        src_vocab_size: source pieces.
        tgt_vocab_size: target pieces.
        pad_id: padding id (both sides).
        bos_id: beginning-of-sentence id (the decoder's first input).
        eos_id: end-of-sentence id.
        shared_vocab: source and target use one vocabulary (allows ``share_src_tgt_embeddings``).
        emb_dim: embedding size of both sides.
        hidden_dim: H, the GRU size of the encoder (each direction) and the decoder.
        attn_dim: A, the size of the alignment model's hidden layer.
        enc_layers: stacked bidirectional encoder layers; the annotations come from the top one.
        dec_layers: stacked decoder GRUs; the top one queries the attention and feeds the output.
        dropout: on embeddings, between stacked layers and before the output projection.
        bridge: s_0 = tanh(W_s ←h_1) ("backward", the paper) or tanh(W_s mean_j h_j) ("mean").
        maxout: maxout over pairs in the output layer (the paper); else tanh.
        tie_embeddings: the output projection W_o shares its weight with the target embeddings.
        share_src_tgt_embeddings: one embedding matrix for both sides (needs ``shared_vocab``).
        out_dim: l, the output layer's size after maxout; defaults to ``emb_dim`` (as tying needs).
    """

    display_name: ClassVar[str] = "RNN"
    cross_attention_name: ClassVar[str] = "Bahdanau α"
    flops_formula: ClassVar[str] = (
        "forward FLOPs of a pair (S source, T target tokens) = S·[12H(E+H) + (Le-1)·36H² + 4HA] + 2I·Ld·H "
        "+ T·[6EH + 12H² + Ld·6H² + (Ld-1)·6H² + 2HA + 2AS + 4HS + 2P(3H+E) + 2lV]; per target token = "
        "Σ over the batches' real tokens / ΣT; training = 3 × forward; matmuls only, multiply-add = 2 FLOPs"
    )

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        pad_id: int,
        bos_id: int,
        eos_id: int,
        shared_vocab: bool,
        emb_dim: int = 256,
        hidden_dim: int = 256,
        attn_dim: int = 256,
        enc_layers: int = 1,
        dec_layers: int = 1,
        dropout: float = 0.2,
        bridge: str = "backward",
        maxout: bool = True,
        tie_embeddings: bool = False,
        share_src_tgt_embeddings: bool = False,
        out_dim: int | None = None,
    ) -> None:
        super().__init__(pad_id, bos_id, eos_id)
        out_dim = emb_dim if out_dim is None else out_dim
        _check_options(bridge, shared_vocab, src_vocab_size, tgt_vocab_size, share_src_tgt_embeddings)
        if tie_embeddings and out_dim != emb_dim:
            raise ValueError(
                f"tie_embeddings needs out_dim == emb_dim (got out_dim={out_dim}, emb_dim={emb_dim}): "
                "set model.net.out_dim to emb_dim or tie_embeddings to false"
            )
        self.hidden_dim, self.dec_layers, self.bridge, self.maxout = hidden_dim, dec_layers, bridge, maxout
        H = hidden_dim
        self.drop = nn.Dropout(dropout)

        # Encoder: E x_j -> bidirectional GRU -> h_j = [→h_j ; ←h_j].
        self.tgt_embed = _embedding(tgt_vocab_size, emb_dim, pad_id)
        self.src_embed = self.tgt_embed if share_src_tgt_embeddings else _embedding(src_vocab_size, emb_dim, pad_id)
        self.encoder = nn.GRU(
            emb_dim, H, enc_layers, batch_first=True, bidirectional=True, dropout=dropout if enc_layers > 1 else 0.0
        )

        # Bridge: s_0 = tanh(W_s ←h_1) (H inputs) or tanh(W_s mean_j h_j) (2H inputs), for every layer.
        self.W_s = nn.Linear(H if bridge == "backward" else 2 * H, dec_layers * H)

        # Alignment model: e_ij = v_aᵀ tanh(W_a s_{i-1} + U_a h_j).
        self.attention = AdditiveAttention(query_dim=H, key_dim=2 * H, attn_dim=attn_dim)

        # Decoder GRU, first layer input [E y_{i-1}; c_i]: W x = W E y_{i-1} + C c_i (3 gates stacked).
        self.W_y = nn.Linear(emb_dim, 3 * H)
        self.C = nn.Linear(2 * H, 3 * H, bias=False)
        self.W_up = nn.ModuleList(nn.Linear(H, 3 * H) for _ in range(dec_layers - 1))  # inputs of layers 2..L
        self.cells = nn.ModuleList(GRUCell(H) for _ in range(dec_layers))

        # Deep output: t̃_i = U_o s_i + V_o E y_{i-1} + C_o c_i (2l wide for maxout), t_i, logits = W_o t_i.
        pre = 2 * out_dim if maxout else out_dim
        self.U_o = nn.Linear(H, pre)
        self.V_o = nn.Linear(emb_dim, pre, bias=False)
        self.C_o = nn.Linear(2 * H, pre, bias=False)
        self.W_o = nn.Linear(out_dim, tgt_vocab_size)
        if tie_embeddings:
            self.W_o.weight = self.tgt_embed.weight  # (V, E): one matrix embeds and scores target words

    # ---- encoder ---------------------------------------------------------------------------------

    def encode(self, src: Tensor, src_mask: Tensor, need_weights: bool = False) -> Encoded:
        """Annotate every source word; padding does not change a sentence's annotations.

        ``need_weights`` is accepted for the contract; the RNN has no encoder self-attention.

        Shapes: src, src_mask (B, S) -> Encoded with memory h (B, S, 2H) (zero on padding), mask (B, S).
        """
        x = self.drop(self.src_embed(src))  # (B, S, E)
        encoder = packed_bidirectional_gru if x.is_cuda else bidirectional_gru  # the same h_j, each faster there
        h = encoder(self.encoder, x, src_mask)  # (B, S, 2H), zero on padding
        return Encoded(memory=h, mask=src_mask)

    # ---- decoder ---------------------------------------------------------------------------------

    def init_state(self, encoded: Encoded) -> BahdanauState:
        """s_0 from the bridge, and U_a h_j computed once per sentence for every later step.

        Shapes: encoded.memory (B, S, 2H) -> BahdanauState(s (B, L, H), keys (B, S, A), ...).
        """
        h, mask = encoded.memory, encoded.mask
        if self.bridge == "backward":
            summary = h[:, 0, self.hidden_dim :]  # ←h_1, the backward half at the first word: (B, H)
        else:
            m = mask.unsqueeze(-1).to(h.dtype)  # (B, S, 1)
            summary = (h * m).sum(dim=1) / m.sum(dim=1)  # mean over real words: (B, 2H)
        s0 = torch.tanh(self.W_s(summary)).unflatten(-1, (self.dec_layers, self.hidden_dim))  # (B, L, H)
        keys = self.attention.project_keys(h)  # U_a h_j: (B, S, A)
        return BahdanauState(s=s0, keys=keys, annotations=h, mask=mask)

    def step(self, prev_tokens: Tensor, state: DecoderState, need_weights: bool = False) -> StepOutput:
        """Read y_{i-1}, attend with s_{i-1}, update to s_i and score y_i.

        Shapes: prev_tokens (B,) -> StepOutput(logits (B, V), state, attention α_i (B, 1, 1, S) or None).
        """
        assert isinstance(state, BahdanauState)
        Ey, Wy = self._embed_target(prev_tokens)  # (B, E), (B, 3H)
        s, c, alpha = self._position(state.s, Wy, state.keys, state.annotations, state.mask)  # s_i, c_i, α_i
        logits = self._readout(s[:, -1], Ey, c)  # (B, V)
        weights = alpha[:, None, None, :] if need_weights else None  # (B, 1, 1, S)
        return StepOutput(logits=logits, state=replace(state, s=s), attention=weights)

    def forward(
        self, src: Tensor, src_mask: Tensor, tgt_in: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, Attention | None]:
        """Teacher forcing: the same computation as ``step`` at every position, batched where it can be.

        Only attention and the GRU update depend on s_{i-1} and run position by position; the
        target embeddings (and their input projection) and the whole output layer run once.

        Shapes: src, src_mask (B, S); tgt_in (B, T) -> logits (B, T, V), Attention(cross (B, 1, 1, T, S)).
        """
        return self._teacher_forcing(self._position, src, src_mask, tgt_in, need_weights)

    def compiled_forward(self) -> Callable[..., tuple[Tensor, Attention | None]]:
        """``forward`` with its per-position body (attention and GRU update) through ``torch.compile``.

        The body's elementwise work (W_a s + U_a h, tanh, the masked softmax; the GRU's gates) fuses,
        forward and backward, and one compiled body serves every position and batch shape (dynamic
        shapes); compiling ``forward`` itself would unroll the loop over positions for every length.
        """
        return partial(self._teacher_forcing, torch.compile(self._position, dynamic=True))

    def _teacher_forcing(
        self, position: PositionFn, src: Tensor, src_mask: Tensor, tgt_in: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, Attention | None]:
        """``forward`` with the per-position body ``position`` (``_position``, or it compiled)."""
        state = self.init_state(self.encode(src, src_mask))
        Ey, Wy = self._embed_target(tgt_in)  # (B, T, E), (B, T, 3H)
        s = state.s  # (B, L, H)
        tops, contexts, alphas = [], [], []
        # unbind, not Wy[:, i]: its backward stacks the T gradients once, where indexing's backward fills and
        # adds a (B, T, 3H) tensor at every position (docs/results/cpu-levers/, 3% of a step)
        for Wy_i in Wy.unbind(dim=1):  # W E y_{i-1}: (B, 3H) for i = 1 … T
            s, c, alpha = position(s, Wy_i, state.keys, state.annotations, state.mask)  # s_i, c_i, α_i
            tops.append(s[:, -1])
            contexts.append(c)
            alphas.append(alpha)
        logits = self._readout(torch.stack(tops, dim=1), Ey, torch.stack(contexts, dim=1))  # (B, T, V)
        if not need_weights:
            return logits, None
        cross = torch.stack(alphas, dim=1)[:, None, None]  # (B, 1, 1, T, S)
        return logits, Attention(cross=cross)

    def _position(
        self, s_prev: Tensor, Wy: Tensor, keys: Tensor, annotations: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One target position: attend with s_{i-1}, then s_i = GRU(s_{i-1}, [E y_{i-1}; c_i]).

        Shapes: s_prev (B, L, H); Wy = W E y_{i-1} (B, 3H); keys (B, S, A); annotations (B, S, 2H);
        mask (B, S) -> s_i (B, L, H), c_i (B, 2H), α_i (B, S).
        """
        c, alpha = self.attention(s_prev[:, -1], keys, annotations, mask)  # c_i (B, 2H), α_i (B, S)
        return self._recur(s_prev, Wy, c), c, alpha

    def _embed_target(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """E y and its GRU input projection W E y (+ biases), which do not depend on the recurrence.

        Speed: ``forward`` calls this once for all T positions instead of once per step.

        Shapes: tokens (B, ...) -> E y (B, ..., E), W E y (B, ..., 3H).
        """
        Ey = self.drop(self.tgt_embed(tokens))  # (B, ..., E)
        return Ey, self.W_y(Ey)

    def _recur(self, s_prev: Tensor, Wy: Tensor, c: Tensor) -> Tensor:
        """s_i = GRU(s_{i-1}, [E y_{i-1}; c_i]); layers 2..L read the layer below.

        Shapes: s_prev (B, L, H); Wy = W E y_{i-1} (B, 3H); c (B, 2H) -> s_i (B, L, H).
        """
        Wx = Wy + self.C(c)  # W E y_{i-1} + C c_i: (B, 3H)
        layers = [self.cells[0](Wx, s_prev[:, 0])]
        for k, (W_up, cell) in enumerate(zip(self.W_up, self.cells[1:], strict=True), start=1):
            layers.append(cell(W_up(self.drop(layers[-1])), s_prev[:, k]))
        return torch.stack(layers, dim=1)  # (B, L, H)

    def _readout(self, s: Tensor, Ey: Tensor, c: Tensor) -> Tensor:
        """Deep output: t̃_i = U_o s_i + V_o E y_{i-1} + C_o c_i; t_i = maxout(t̃_i) (or tanh); logits W_o t_i.

        The paper's eq. (4) scores y_i from (y_{i-1}, s_i, c_i), which is what this uses.
        Speed: ``forward`` calls this once on all T positions, so the vocabulary projection is one matmul.

        Shapes: s (B, ..., H); Ey (B, ..., E); c (B, ..., 2H) -> logits (B, ..., V).
        """
        t_tilde = self.U_o(s) + self.V_o(Ey) + self.C_o(c)  # (B, ..., 2l) or (B, ..., l)
        if self.maxout:
            t = t_tilde.unflatten(-1, (-1, 2)).amax(dim=-1)  # t_ij = max(t̃_i,2j-1, t̃_i,2j): (B, ..., l)
        else:
            t = torch.tanh(t_tilde)
        return self.W_o(self.drop(t))  # (B, ..., V)

    # ------------------------------------------------------------------ what the package asks the model
    def attention_layout(self) -> AttentionLayout:
        """One additive (Bahdanau) map per decoder step, no self-attention."""
        return AttentionLayout(self.cross_attention_name, "additive", layers=1, heads=1, self_attention=False)

    @classmethod
    def describe(cls, net: Mapping[str, Any]) -> str:
        """E.g. "RNN (bi-GRU 256 + Bahdanau attention)", "RNN (2-layer bi-GRU 512 + …)"."""
        layers = net.get("enc_layers", 1)
        deep = f"{layers}-layer " if layers and layers > 1 else ""
        return f"RNN ({deep}bi-GRU {net.get('hidden_dim')} + Bahdanau attention)"

    def forward_flops(self, src_len: int, tgt_len: int) -> int:
        """Forward FLOPs of one pair (``flops_formula``; sizes read off the built model, see ``RNNDims``)."""
        return RNNDims.of(self).forward_flops(src_len, tgt_len)


@dataclass(frozen=True)
class RNNDims:
    """The sizes the model's FLOPs depend on: E embedding, H GRU size, A attention size, I the bridge
    input (H or 2H), P = deep-output width before maxout, l after it, Le / Ld layers, V vocabulary.

    Forward FLOPs of one pair (S source, T target tokens, EOS/BOS included)::

        S · [12H·(E + H) + (Le - 1)·36H² + 4HA]   bidirectional GRU (3 gates: input and recurrent products
                                                   in both directions), the keys U_a h_j
      + 2I·Ld·H                                    the bridge s_0 = tanh(W_s ·)
      + T · [6EH + 12H² + Ld·6H² + (Ld - 1)·6H²    GRU input W E y, context C c, recurrent U_z, U_r, U and
                                                   the inputs of the upper layers
             + 2HA + 2A·S + 4H·S                   attention: W_a s, v_aᵀ tanh(·) over S positions, Σ α h
             + 2P·(3H + E) + 2lV]                  deep output U_o s + V_o E y + C_o c, and W_o
    """

    emb: int
    hidden: int
    attn: int
    enc_layers: int
    dec_layers: int
    bridge_in: int
    pre_out: int
    out: int
    vocab: int

    @classmethod
    def of(cls, model: Bahdanau) -> RNNDims:
        """Read the sizes off a built model."""
        return cls(
            emb=model.tgt_embed.embedding_dim,
            hidden=model.hidden_dim,
            attn=model.attention.W_a.out_features,
            enc_layers=model.encoder.num_layers,
            dec_layers=model.dec_layers,
            bridge_in=model.W_s.in_features,
            pre_out=model.U_o.out_features,
            out=model.W_o.in_features,
            vocab=model.W_o.out_features,
        )

    def forward_flops(self, src_len: int, tgt_len: int) -> int:
        """Forward FLOPs of one sentence pair (see the class docstring)."""
        E, H, A, Le, Ld = self.emb, self.hidden, self.attn, self.enc_layers, self.dec_layers
        P, L_out, V, S, T = self.pre_out, self.out, self.vocab, src_len, tgt_len
        encoder = S * (12 * H * (E + H) + (Le - 1) * 36 * H * H + 4 * H * A) + 2 * self.bridge_in * Ld * H
        recurrence = 6 * E * H + 12 * H * H + Ld * 6 * H * H + (Ld - 1) * 6 * H * H
        attention = 2 * H * A + 2 * A * S + 4 * H * S
        readout = 2 * P * (3 * H + E) + 2 * L_out * V
        return encoder + T * (recurrence + attention + readout)


def _embedding(vocab_size: int, emb_dim: int, pad_id: int) -> nn.Embedding:
    """An embedding with N(0, 1/E) entries (a sensible scale for tied output weights) and a zero pad row."""
    embed = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
    nn.init.normal_(embed.weight, std=emb_dim**-0.5)
    with torch.no_grad():
        embed.weight[pad_id].zero_()
    return embed


def _check_options(bridge: str, shared_vocab: bool, src_vocab: int, tgt_vocab: int, share_embeddings: bool) -> None:
    """Raise ValueError with a one-line fix for option combinations the model cannot build."""
    if bridge not in BRIDGES:
        raise ValueError(f"model.net.bridge must be one of {BRIDGES}, got {bridge!r}")
    if share_embeddings and not (shared_vocab and src_vocab == tgt_vocab):
        raise ValueError(
            "share_src_tgt_embeddings needs one joint source/target vocabulary: "
            "use a shared SentencePiece model or set model.net.share_src_tgt_embeddings to false"
        )
