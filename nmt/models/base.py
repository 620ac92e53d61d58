"""The decoding contract shared by every model.

search.py drives any model through four calls and never asks which model it has:

* ``encode(src, src_mask) -> Encoded``: run the encoder once per sentence;
* ``init_state(encoded) -> DecoderState``: everything a decoder step needs, batch first;
* ``step(prev_tokens, state, need_weights) -> StepOutput``: one target position;
* ``reorder_state(state, index, within_sentences) -> DecoderState``: pick/repeat rows (beams),
  one ``index_select`` per field; when every row stays among the rows of its own sentence (beams
  reordered, no sentence added or dropped), the fields that depend on the source alone
  (``DecoderState.source_fields``) are kept as they are.

``forward`` is teacher forcing over a whole target, and must give the same logits as
calling ``step`` position by position (a tested property).

What the rest of the package needs to know about a model it asks the model, never its tensors'
shapes or its name: ``display_name`` and ``describe(net)`` (reports), ``attention_layout()``
(figures), ``forward_flops`` and ``flops_formula`` (``nmt.flops``, ``nmt.bench``). A model is one
file and one config: see ``nmt.models.registry`` for how a model from outside the package gets in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, TypeVar

import torch
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

    def select(self: S, index: Tensor, keep: Collection[str] = ()) -> S:
        """Rows ``index`` of every tensor field but those named in ``keep`` (left as they are).

        Shapes: index (B',) long -> same fields with B' (the kept ones unchanged).
        """
        picked = {f.name: _select(getattr(self, f.name), index) for f in fields(self) if f.name not in keep}
        return replace(self, **picked)


@dataclass
class Encoded(BatchFirst):
    """Encoder output. Shapes: memory (B, S, M); mask (B, S) True on real source positions;
    attention: encoder self-attention (B, L, h, S, S) when asked for, else None."""

    memory: Tensor
    mask: Tensor
    attention: Tensor | None = None


@dataclass
class DecoderState(BatchFirst):
    """Base class for a model's incremental decoder state (its fields are model-specific).

    ``source_fields`` names the fields that depend on the source sentence alone (the memory, its
    projections, the source mask): the beams of one sentence hold the same rows there, so
    reordering beams within their sentences need not copy them.
    """

    source_fields: ClassVar[tuple[str, ...]] = ()


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


@dataclass(frozen=True)
class AttentionLayout:
    """How a model attends: what figures draw and how they title it.

    Args:
        cross_name: what figure titles call the cross-attention, e.g. "Bahdanau α".
        kind: the kind of cross-attention, e.g. "additive" (one map per step) or "multi-head".
        layers: L, the layers of cross-attention maps (``Attention.cross`` is (B, L, h, T, S)).
        heads: h, the heads of each layer.
        self_attention: whether the model has encoder and decoder self-attention to draw.
    """

    cross_name: str
    kind: str
    layers: int
    heads: int
    self_attention: bool

    @property
    def single_map(self) -> bool:
        """One cross-attention map per sentence (L = h = 1): drawn alone, no grid of layers × heads."""
        return self.layers == 1 and self.heads == 1


class Seq2Seq(nn.Module, ABC):
    """An encoder-decoder over piece ids with the special ids it was built with.

    Class attributes a model sets: ``display_name`` (reports, e.g. "Transformer"),
    ``cross_attention_name`` (figure titles) and ``flops_formula`` (``forward_flops`` in words).
    """

    display_name: ClassVar[str] = ""
    cross_attention_name: ClassVar[str] = "cross-attention"
    flops_formula: ClassVar[str] = ""

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

    def compiled_forward(self) -> Callable[..., tuple[Tensor, Attention | None]]:
        """``forward`` through ``torch.compile`` (inductor, dynamic shapes), for training steps.

        A model whose ``forward`` loops over target positions in Python overrides this to compile
        the loop's body alone: compiling the whole ``forward`` would unroll the loop once per length.
        """
        return torch.compile(self.forward, dynamic=True)

    def untie_output(self) -> None:
        """Give a tied output projection its own ``nn.Linear`` holding a copy of the shared matrix.

        Tools that swap layers module by module (``nmt.int8``) then reach the vocabulary projection too;
        the logits are unchanged. The default does nothing: the model's projection is already a Linear.
        """

    def reorder_state(self, state: DecoderState, index: Tensor, within_sentences: bool = False) -> DecoderState:
        """Rows ``index`` of the state (beam reordering and expansion).

        ``within_sentences``: the caller promises that row i of the result comes from a row holding
        the same source sentence as row i did (beams reordered within each sentence, none added or
        dropped), so the ``source_fields`` are already right and are not copied.

        Shapes: index (B',).
        """
        return state.select(index, state.source_fields if within_sentences else ())

    def attention_layout(self) -> AttentionLayout:
        """The kind, layers and heads of this model's cross-attention, and whether it has self-attention.

        Figures, the explorer and compare's heatmaps ask this; decoding does not need it.

        Raises:
            NotImplementedError: the model does not say (define it on the model).
        """
        raise NotImplementedError(f"{type(self).__name__} does not describe its attention: define attention_layout")

    @classmethod
    def describe(cls, net: Mapping[str, Any]) -> str:
        """A short description from the model's config (``model.net``), e.g. "Transformer (3+3 layers, …)".

        Reports call it with a run's saved config, without building the model; the default is the name.
        """
        return cls.display_name or cls.__name__

    def forward_flops(self, src_len: int, tgt_len: int) -> int:
        """Forward-pass FLOPs of one sentence pair of these real lengths (EOS/BOS included), matmuls only,
        a multiply-add counted as 2 (the conventions of ``nmt.flops``).

        Raises:
            NotImplementedError: the model has no formula (``nmt.bench`` then reports no FLOPs for it).
        """
        raise NotImplementedError(f"{type(self).__name__} has no FLOP formula: define forward_flops on it")


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run a block in eval mode (no dropout), then restore the mode the model had, even on error."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
