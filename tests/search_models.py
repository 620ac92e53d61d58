"""The models and helpers the search tests share: a test-only GRU LM with attention, a scripted LM
(a fixed table of next-piece probabilities), tiny real models, random batches and teacher forcing."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from nmt.batch import Batch
from nmt.models.base import Attention, DecoderState, Encoded, Seq2Seq, StepOutput
from nmt.search import Hypothesis

PAD, BOS, EOS = 0, 1, 2
V = 12
CONF = Path(__file__).resolve().parents[1] / "conf" / "decode"


@dataclass
class TinyState(DecoderState):
    """Shapes: h (B, H); memory (B, S, H); mask (B, S)."""

    h: Tensor
    memory: Tensor
    mask: Tensor


class TinyLM(Seq2Seq):
    """A GRU language model started from the mean of the source embeddings, with one
    dot-product attention (L = h = 1). ``bias`` is added to the logits (to push towards ids)."""

    def __init__(self, vocab: int = V, hidden: int = 16, sharpness: float = 3.0, bias: Tensor | None = None):
        super().__init__(PAD, BOS, EOS)
        self.embed = nn.Embedding(vocab, hidden)
        self.cell = nn.GRUCell(hidden, hidden)
        self.out = nn.Linear(2 * hidden, vocab)
        self.sharpness = sharpness
        self.register_buffer("bias", torch.zeros(vocab) if bias is None else bias)
        self.batch_sizes: list[int] = []  # rows seen by each step (to observe dropped rows)

    def encode(self, src: Tensor, src_mask: Tensor, need_weights: bool = False) -> Encoded:
        return Encoded(self.embed(src), src_mask)  # (B, S, H)

    def init_state(self, encoded: Encoded) -> TinyState:
        m = encoded.mask[:, :, None].float()  # (B, S, 1)
        h = (encoded.memory * m).sum(1) / m.sum(1)  # (B, H)
        return TinyState(h, encoded.memory, encoded.mask)

    def step(self, prev_tokens: Tensor, state: DecoderState, need_weights: bool = False) -> StepOutput:
        assert isinstance(state, TinyState) and prev_tokens.dim() == 1
        self.batch_sizes.append(prev_tokens.size(0))
        h = self.cell(self.embed(prev_tokens), state.h)  # (B, H)
        e = (state.memory @ h[:, :, None]).squeeze(-1).masked_fill(~state.mask, float("-inf"))  # (B, S)
        alpha = e.softmax(-1)  # (B, S)
        context = (alpha[:, None, :] @ state.memory).squeeze(1)  # (B, H)
        logits = self.sharpness * self.out(torch.cat([h, context], -1)) + self.bias  # (B, V)
        return StepOutput(logits, replace(state, h=h), alpha[:, None, None, :] if need_weights else None)

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor, need_weights: bool = False):
        state = self.init_state(self.encode(src, src_mask))
        logits, weights = [], []
        for t in range(tgt_in.size(1)):
            out = self.step(tgt_in[:, t], state, need_weights)
            logits.append(out.logits)
            weights.append(out.attention)
            state = out.state
        cross = torch.stack(weights, dim=3) if need_weights else None  # (B, 1, 1, T, S)
        return torch.stack(logits, 1), None if cross is None else Attention(cross)


@dataclass
class ScriptState(DecoderState):
    """Shapes: position (B,); mask (B, S)."""

    position: Tensor
    mask: Tensor


class ScriptedLM(Seq2Seq):
    """Next-piece probabilities fixed by position: ``table[t]`` whatever the prefix. Uniform attention."""

    def __init__(self, table: Tensor):
        super().__init__(PAD, BOS, EOS)
        self.register_buffer("table", table.log())  # (T, V)

    def encode(self, src: Tensor, src_mask: Tensor, need_weights: bool = False) -> Encoded:
        return Encoded(src_mask[:, :, None].float(), src_mask)  # (B, S, 1)

    def init_state(self, encoded: Encoded) -> ScriptState:
        return ScriptState(torch.zeros_like(encoded.mask[:, 0], dtype=torch.long), encoded.mask)

    def step(self, prev_tokens: Tensor, state: DecoderState, need_weights: bool = False) -> StepOutput:
        assert isinstance(state, ScriptState)
        logits = self.table[state.position.clamp(max=self.table.size(0) - 1)]  # (B, V)
        weights = state.mask.float() / state.mask.sum(1, keepdim=True)  # (B, S)
        return StepOutput(
            logits, replace(state, position=state.position + 1), weights[:, None, None] if need_weights else None
        )

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor, need_weights: bool = False):
        raise NotImplementedError


def tiny(seed: int = 0, **kwargs) -> TinyLM:
    torch.manual_seed(seed)
    return TinyLM(**kwargs).eval()


def transformer(seed: int = 0) -> Seq2Seq:
    from nmt.models.transformer import Transformer

    torch.manual_seed(seed)
    net = Transformer(V, V, PAD, BOS, EOS, True, d_model=32, n_heads=4, enc_layers=2, dec_layers=2, d_ff=64)
    return net.eval()


def rnn(seed: int = 0) -> Seq2Seq:
    from nmt.models.rnn import Bahdanau

    torch.manual_seed(seed)
    return Bahdanau(V, V, PAD, BOS, EOS, True, emb_dim=16, hidden_dim=16, attn_dim=16, dec_layers=2).eval()


def _available(name: str) -> bool:
    return (Path(__file__).resolve().parents[1] / "nmt" / "models" / f"{name}.py").exists()


MODELS = [pytest.param(tiny, id="tiny")] + [
    pytest.param(f, id=f.__name__, marks=pytest.mark.skipif(not _available(f.__name__), reason="model not written"))
    for f in (transformer, rnn)
]


def batch(n: int = 6, seed: int = 0, max_len: int = 7) -> Batch:
    rng = random.Random(seed)
    src = [[rng.randrange(3, V) for _ in range(rng.randint(1, max_len))] for _ in range(n)]
    return Batch.from_ids(src, None, range(n), PAD, BOS, EOS)


def tokens(hyps: list[Hypothesis]) -> list[list[int]]:
    return [h.tokens for h in hyps]


def _teacher_force(model: Seq2Seq, b: Batch, i: int, hyp: Hypothesis) -> tuple[Tensor, Attention]:
    """Logits (1, T + 1, V) and attention of hypothesis ``hyp`` of source ``i``, alone and unpadded."""
    n = int(b.src_mask[i].sum())
    src, mask = b.src[i : i + 1, :n], b.src_mask[i : i + 1, :n]  # (1, S_real)
    tgt = torch.tensor([[BOS] + hyp.tokens])  # (1, T + 1)
    with torch.inference_mode():
        return model(src, mask, tgt, need_weights=True)


def forced_logits(model: Seq2Seq, b: Batch, i: int, hyp: Hypothesis) -> Tensor:
    return _teacher_force(model, b, i, hyp)[0][0].float()  # (T + 1, V)


def teacher_forced(model: Seq2Seq, b: Batch, i: int, hyp: Hypothesis) -> tuple[float, Tensor]:
    """log p(hyp + EOS | source i) and its cross-attention (L, h, T + 1, S_real), by teacher forcing."""
    logits, attn = _teacher_force(model, b, i, hyp)  # (1, T + 1, V)
    gold = torch.tensor(hyp.tokens + [EOS])  # (T + 1,)
    log_prob = logits[0].float().log_softmax(-1).gather(1, gold[:, None]).sum()
    return float(log_prob), attn.cross[0]
