"""Decoding with 8-bit integer matmuls: ``decode.precision=int8`` (CPUs).

Every ``nn.Linear`` of the model becomes an ``Int8Linear``. Its weight is rounded once to 8-bit
integers with one scale per output unit,

    W ≈ diag(s) · Q,   s_j = max_k |W_jk| / 127,   Q_jk = round(W_jk / s_j) ∈ [-127, 127],

and at each call its input is rounded to 8 bits with one scale and zero point for the whole batch
(dynamic quantization: the range is read off the batch itself). The product runs in torch's
quantized CPU kernels (FBGEMM / oneDNN) with 32-bit integer sums, then is scaled back to fp32
and the fp32 bias is added. Embeddings, layer norms, the RNN's GRU encoder, softmaxes and every
score stay fp32.

The inputs use all 8 bits on CPUs with VNNI instructions (``avx512_vnni`` or ``avx_vnni``), which sum
8-bit products in 32 bits. Elsewhere they use 7 (``reduce_range``): without VNNI, x86 CPUs add pairs
of 8-bit products in 16 bits, which full-range inputs could overflow. ``INPUT_BITS`` says which;
``nmt.evaluate`` records it. 7 bits double the rounding: on the trained Multi30k models about twice
as many hypotheses differed from fp32's (``docs/results/beam-speed/int8/``).

``int8_model(model)`` is what decoding asks for: a quantized copy, made once and cached until the
model's weights change (a training step, a checkpoint loaded), so it is safe to decode with
between training steps.
"""

from __future__ import annotations

import copy
import warnings
import weakref

import torch
from torch import Tensor, nn

from nmt.cpu_flags import has_vnni
from nmt.errors import ConfigError
from nmt.models.base import Seq2Seq

# torch ≥ 2.9 warns once that quantized tensors are deprecated (they are how its int8 CPU kernels
# take their packed weights): the user asked for int8, the line is not theirs to act on.
_DEPRECATED = r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other quantized tensor creation"


INPUT_BITS = 8 if has_vnni() else 7  # bits of each Int8Linear input; 7 where 16-bit pair sums could overflow


class Int8Linear(nn.Module):
    """``y = x Wᵀ + b`` with W in int8 (one scale per output unit) and x rounded to 8 bits per call.

    Shapes: x (..., in_features) -> (..., out_features), fp32 in and out.
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight = linear.weight.detach().float().cpu()  # (out, in)
        scale = weight.abs().amax(dim=1).clamp_min(1e-12) / 127  # (out,) s_j
        zero = torch.zeros(self.out_features, dtype=torch.long)
        bias = None if linear.bias is None else linear.bias.detach().float().cpu()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_DEPRECATED, category=UserWarning)
            q = torch.quantize_per_channel(weight, scale.double(), zero, 0, torch.qint8)  # Q with s
            self._packed = torch.ops.quantized.linear_prepack(q, bias)  # laid out for the kernel

    def forward(self, x: Tensor) -> Tensor:
        flat = x.reshape(-1, self.in_features).float()  # (N, in)
        y = torch.ops.quantized.linear_dynamic(flat, self._packed, INPUT_BITS == 7)  # (N, out); reduce_range
        return y.view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


def _swap_linears(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            setattr(module, name, Int8Linear(child))
        else:
            _swap_linears(child)


def check_int8(model: nn.Module) -> None:
    """Refuse, in one line, a model int8 decoding cannot run: one on a GPU, or a torch without the kernels."""
    device = next(model.parameters()).device
    if device.type != "cpu":
        raise ConfigError(
            f"decode.precision=int8 runs on CPUs only (torch's quantized kernels), the model is on {device}: "
            "use decode.precision=bf16 on a GPU"
        )
    try:
        torch.ops.quantized.linear_dynamic  # noqa: B018 (resolving the op is the check)
    except (AttributeError, RuntimeError) as err:
        raise ConfigError(
            f"decode.precision=int8: this torch {torch.__version__} has no quantized CPU kernels; use fp32 or bf16"
        ) from err


def quantized_copy(model: Seq2Seq) -> Seq2Seq:
    """A copy of ``model`` in eval mode whose every ``nn.Linear`` is an ``Int8Linear``; ``model`` is untouched."""
    check_int8(model)
    twin = copy.deepcopy(model).eval().requires_grad_(False)
    twin.untie_output()  # a tied output projection (F.linear on the embedding) becomes a Linear to quantize
    _swap_linears(twin)
    return twin


_COPIES: weakref.WeakKeyDictionary[Seq2Seq, tuple[tuple, Seq2Seq]] = weakref.WeakKeyDictionary()


def _weights_key(model: nn.Module) -> tuple:
    """Changes whenever a weight does: in-place updates bump a tensor's version, a swap its address."""
    return tuple((p.data_ptr(), p._version) for p in model.parameters())


def int8_model(model: Seq2Seq) -> Seq2Seq:
    """The int8 copy of ``model`` (``quantized_copy``), remade only when its weights have changed."""
    key = _weights_key(model)
    cached = _COPIES.get(model)
    if cached is None or cached[0] != key:
        cached = (key, quantized_copy(model))
        _COPIES[model] = cached
    return cached[1]
