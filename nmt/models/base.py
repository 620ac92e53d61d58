"""The decoding contract shared by every model.

search.py drives any model through four calls and never asks which model it has:

* ``encode(src, src_mask) -> Encoded``: run the encoder once per sentence;
* ``init_state(encoded) -> DecoderState``: everything a decoder step needs, batch first;
* ``step(prev_tokens, state, need_weights) -> StepOutput``: one target position;
* ``reorder_state(state, index) -> DecoderState``: pick/repeat rows (beams), one
  ``index_select`` per field.

``forward`` is teacher forcing over a whole target, and must give the same logits as
calling ``step`` position by position (a tested property).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, TypeVar

from torch import Tensor, nn

S = TypeVar("S", bound="BatchFirst")


def _select(value: Any, index: Tensor) -> Any:
    if isinstance(value, Tensor):
        return value.index_select(0, index)
    if isinstance(value, (list, tuple)):
        return type(value)(_select(v, index) for v in value)
    return value  # ints, None: shared by every row


@dataclass
class BatchFirst:
    """A dataclass whose tensors (alone or in lists/tuples) all have batch on dim 0."""

    def select(self: S, index: Tensor) -> S:
        """Rows ``index`` of every tensor field. Shapes: index (B',) long -> same fields with B'."""
        return replace(self, **{f.name: _select(getattr(self, f.name), index) for f in fields(self)})


@dataclass
class Encoded(BatchFirst):
    """Encoder output. Shapes: memory (B, S, M); mask (B, S) True on real source positions;
    attention: encoder self-attention (B, L, h, S, S) when asked for, else None."""

    memory: Tensor
    mask: Tensor
    attention: Tensor | None = None


@dataclass
class DecoderState(BatchFirst):
    """Base class for a model's incremental decoder state (its fields are model-specific)."""


@dataclass
class StepOutput:
    """One decoder step. Shapes: logits (B, V); attention (B, L, h, S) cross-attention or None."""

    logits: Tensor
    state: DecoderState
    attention: Tensor | None = None


@dataclass
class Attention:
    """Attention weights of a teacher-forced pass.

    Shapes: cross (B, L, h, T, S); encoder (B, L, h, S, S) or None; decoder (B, L, h, T, T) or None.
    The RNN has L = h = 1 and no self-attention.
    """

    cross: Tensor
    encoder: Tensor | None = None
    decoder: Tensor | None = None


class Seq2Seq(nn.Module, ABC):
    """An encoder-decoder over piece ids with the special ids it was built with.

    ``cross_attention_name`` is what figure titles call the model's cross-attention.
    """

    cross_attention_name: ClassVar[str] = "cross-attention"

    def __init__(self, pad_id: int, bos_id: int, eos_id: int) -> None:
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id

    @abstractmethod
    def encode(self, src: Tensor, src_mask: Tensor, need_weights: bool = False) -> Encoded:
        """Shapes: src, src_mask (B, S) -> Encoded with memory (B, S, M)."""

    @abstractmethod
    def init_state(self, encoded: Encoded) -> DecoderState:
        """The state before the first target token (the decoder then reads BOS)."""

    @abstractmethod
    def step(self, prev_tokens: Tensor, state: DecoderState, need_weights: bool = False) -> StepOutput:
        """Shapes: prev_tokens (B,) -> StepOutput with logits (B, V)."""

    @abstractmethod
    def forward(
        self, src: Tensor, src_mask: Tensor, tgt_in: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, Attention | None]:
        """Teacher forcing. Shapes: src, src_mask (B, S); tgt_in (B, T) -> logits (B, T, V)."""

    def reorder_state(self, state: DecoderState, index: Tensor) -> DecoderState:
        """Rows ``index`` of the state (beam reordering and expansion). Shapes: index (B',)."""
        return state.select(index)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run a block in eval mode (no dropout), then restore the mode the model had, even on error."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
