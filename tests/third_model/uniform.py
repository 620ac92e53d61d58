"""A third model, written in the test folder alone: a GRU encoder-decoder whose "attention" is uniform.

Every decoder step reads the mean of the encoder states over the real source positions, so its
cross-attention is one map of equal weights: a deliberately weak baseline, and a check that a model
from outside the package trains, evaluates, plots and compares through nmt's commands with no change
in ``nmt/``. Importing this module registers it (``plugins=third_model.uniform``, tests/ on PYTHONPATH).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from nmt.models.base import Attention, AttentionLayout, DecoderState, Encoded, Seq2Seq, StepOutput
from nmt.models.registry import register_model


@dataclass
class UniformState(DecoderState):
    """Shapes: h (B, H) the decoder state; context (B, H) the mean encoder state; weights (B, S)."""

    h: Tensor
    context: Tensor
    weights: Tensor


class UniformAttention(Seq2Seq):
    """GRU encoder, GRU decoder fed the uniform mean of the encoder states at every step.

    Args:
        src_vocab_size, tgt_vocab_size, pad_id, bos_id, eos_id, shared_vocab: as every nmt model.
        emb_dim: E, the embedding size; hidden_dim: H, the GRU size.
    """

    display_name: ClassVar[str] = "Uniform"
    cross_attention_name: ClassVar[str] = "uniform attention"
    flops_formula: ClassVar[str] = "S·6H(E+H) + 2SH + T·[6H(E+2H) + 4HV]; matmuls only, multiply-add = 2 FLOPs"

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        pad_id: int,
        bos_id: int,
        eos_id: int,
        shared_vocab: bool,
        emb_dim: int = 32,
        hidden_dim: int = 32,
    ) -> None:
        super().__init__(pad_id, bos_id, eos_id)
        self.src_embed = nn.Embedding(src_vocab_size, emb_dim, padding_idx=pad_id)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, emb_dim, padding_idx=pad_id)
        self.encoder = nn.GRU(emb_dim, hidden_dim, batch_first=True)
        self.decoder = nn.GRUCell(emb_dim + hidden_dim, hidden_dim)
        self.out = nn.Linear(2 * hidden_dim, tgt_vocab_size)

    def encode(self, src: Tensor, src_mask: Tensor, need_weights: bool = False) -> Encoded:
        """Shapes: src, src_mask (B, S) -> memory (B, S, H) (padding comes last: real states never see it)."""
        memory, _ = self.encoder(self.src_embed(src))  # (B, S, H)
        return Encoded(memory, src_mask)

    def init_state(self, encoded: Encoded) -> UniformState:
        weights = encoded.mask.float() / encoded.mask.sum(dim=1, keepdim=True)  # (B, S)
        context = torch.bmm(weights.unsqueeze(1), encoded.memory).squeeze(1)  # (B, H)
        return UniformState(torch.tanh(context), context, weights)

    def step(self, prev_tokens: Tensor, state: UniformState, need_weights: bool = False) -> StepOutput:
        h = self.decoder(torch.cat([self.tgt_embed(prev_tokens), state.context], dim=-1), state.h)  # (B, H)
        logits = self.out(torch.cat([h, state.context], dim=-1))  # (B, V)
        weights = state.weights[:, None, None, :] if need_weights else None  # (B, 1, 1, S)
        return StepOutput(logits, replace(state, h=h), weights)

    def forward(
        self, src: Tensor, src_mask: Tensor, tgt_in: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, Attention | None]:
        """Teacher forcing, one step per position. Shapes: tgt_in (B, T) -> logits (B, T, V)."""
        state = self.init_state(self.encode(src, src_mask))
        logits = []
        for t in range(tgt_in.size(1)):
            out = self.step(tgt_in[:, t], state)
            logits.append(out.logits)
            state = out.state
        stacked = torch.stack(logits, dim=1)  # (B, T, V)
        if not need_weights:
            return stacked, None
        cross = state.weights[:, None, None, None, :].expand(-1, 1, 1, tgt_in.size(1), -1)  # (B, 1, 1, T, S)
        return stacked, Attention(cross)

    def attention_layout(self) -> AttentionLayout:
        return AttentionLayout(self.cross_attention_name, "uniform", layers=1, heads=1, self_attention=False)

    @classmethod
    def describe(cls, net: Mapping[str, Any]) -> str:
        return f"Uniform attention (GRU {net.get('hidden_dim')})"

    def forward_flops(self, src_len: int, tgt_len: int) -> int:
        E, H, V = self.src_embed.embedding_dim, self.decoder.hidden_size, self.out.out_features
        return src_len * 6 * H * (E + H) + 2 * src_len * H + tgt_len * (6 * H * (E + 2 * H) + 4 * H * V)


register_model(UniformAttention, config=Path(__file__).with_name("uniform.yaml"))
