"""Analytic FLOP counts of both models; this machine: what it is, its fp32 matmul rate, its load, peak memory.

Conventions (those of model-FLOP-utilisation, MFU):

* Only matrix products count, each multiply-add as 2 FLOPs: an (M × K) @ (K × N) product is 2·M·K·N.
  LayerNorm, softmax, activations, dropout, embedding look-ups and the loss are left out.
* Only real tokens count: the work spent on padding is waste, and shows as a lower MFU.
* Attention counts every key of the sentence for every query (the causal mask is not halved,
  as in the PaLM paper's count).
* Training costs 3 × the forward pass (the backward pass computes two products per forward one:
  gradients of the inputs and of the weights).

Symbols: S, T source and target length of one sentence pair (with its EOS / BOS); V target vocabulary.

Transformer (D = d_model, F = d_ff, Le / Ld encoder / decoder layers), forward FLOPs of one pair:

    S · [Le·(8D² + 4DF) + Ld·4D²]       encoder Q, K, V, O and FFN per source token; the cross-attention
                                         K, V projection of the memory in each decoder layer
  + Le · 4D·S²                          encoder self-attention scores QKᵀ and the weighted sum AV
  + T · [Ld·(12D² + 4DF) + 2DV]         decoder self-attention Q, K, V, O, cross-attention Q, O, FFN;
                                         the vocabulary projection
  + Ld · 4D·(T² + T·S)                  decoder self- and cross-attention scores and sums

Per target token that is the sum over the batch divided by ΣT: the encoder terms are scaled by the
batch's source/target token ratio r = ΣS / ΣT (about 1 for en-de Multi30k).

Bahdanau RNN (E embedding, H GRU size, A attention size, P = deep-output width before maxout,
l = after it, Le / Ld layers, I the bridge input, H or 2H), forward FLOPs of one pair:

    S · [12H·(E + H) + (Le - 1)·36H² + 4HA]   bidirectional GRU (3 gates: input and recurrent products
                                               in both directions), the keys U_a h_j
  + 2I·Ld·H                                    the bridge s_0 = tanh(W_s ·)
  + T · [6EH + 12H² + Ld·6H² + (Ld - 1)·6H²    GRU input W E y, context C c, recurrent U_z, U_r, U and
                                               the inputs of the upper layers
         + 2HA + 2A·S + 4H·S                   attention: W_a s, v_aᵀ tanh(·) over S positions, Σ α h
         + 2P·(3H + E) + 2lV]                  deep output U_o s + V_o E y + C_o c, and W_o

``torch.utils.flop_counter.FlopCounterMode`` counts the same products (tests/test_bench.py).
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from nmt.errors import ConfigError
from nmt.models.base import Seq2Seq
from nmt.models.rnn import Bahdanau
from nmt.models.transformer import Transformer

TRAIN_FACTOR = 3  # forward + backward = 3 × forward

TRANSFORMER_FORMULA = (
    "forward FLOPs of a pair (S source, T target tokens) = S·[Le(8D²+4DF) + Ld·4D²] + Le·4DS² "
    "+ T·[Ld(12D²+4DF) + 2DV] + Ld·4D(T²+TS); per target token = Σ over the batches' real tokens / ΣT "
    "(so the encoder work per source token is scaled by the source/target token ratio); training = 3 × forward; "
    "matmuls only, multiply-add = 2 FLOPs"
)
RNN_FORMULA = (
    "forward FLOPs of a pair (S source, T target tokens) = S·[12H(E+H) + (Le-1)·36H² + 4HA] + 2I·Ld·H "
    "+ T·[6EH + 12H² + Ld·6H² + (Ld-1)·6H² + 2HA + 2AS + 4HS + 2P(3H+E) + 2lV]; per target token = "
    "Σ over the batches' real tokens / ΣT; training = 3 × forward; matmuls only, multiply-add = 2 FLOPs"
)


@dataclass(frozen=True)
class TransformerDims:
    """The sizes the Transformer's FLOPs depend on."""

    d_model: int
    d_ff: int
    enc_layers: int
    dec_layers: int
    vocab: int

    @classmethod
    def of(cls, model: Transformer) -> TransformerDims:
        """Read the sizes off a built model (so they match the weights, whatever the config said)."""
        layer = model.encoder[0] if len(model.encoder) else model.decoder[0]
        return cls(model.d_model, layer.ff.W_1.out_features, len(model.encoder), len(model.decoder), _vocab(model))

    def forward_flops(self, src_len: int, tgt_len: int) -> int:
        """Forward FLOPs of one sentence pair (see the module docstring)."""
        D, F, Le, Ld, V = self.d_model, self.d_ff, self.enc_layers, self.dec_layers, self.vocab
        S, T = src_len, tgt_len
        encoder = S * (Le * (8 * D * D + 4 * D * F) + Ld * 4 * D * D) + Le * 4 * D * S * S
        decoder = T * (Ld * (12 * D * D + 4 * D * F) + 2 * D * V) + Ld * 4 * D * (T * T + T * S)
        return encoder + decoder


@dataclass(frozen=True)
class RNNDims:
    """The sizes the Bahdanau model's FLOPs depend on."""

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
        """Forward FLOPs of one sentence pair (see the module docstring)."""
        E, H, A, Le, Ld = self.emb, self.hidden, self.attn, self.enc_layers, self.dec_layers
        P, L_out, V, S, T = self.pre_out, self.out, self.vocab, src_len, tgt_len
        encoder = S * (12 * H * (E + H) + (Le - 1) * 36 * H * H + 4 * H * A) + 2 * self.bridge_in * Ld * H
        recurrence = 6 * E * H + 12 * H * H + Ld * 6 * H * H + (Ld - 1) * 6 * H * H
        attention = 2 * H * A + 2 * A * S + 4 * H * S
        readout = 2 * P * (3 * H + E) + 2 * L_out * V
        return encoder + T * (recurrence + attention + readout)


def _vocab(model: Transformer) -> int:
    return model.tgt_embed.num_embeddings if model.out_proj is None else model.out_proj.out_features


def dims_of(model: Seq2Seq) -> TransformerDims | RNNDims:
    """The FLOP-relevant sizes of a Transformer or a Bahdanau model."""
    if isinstance(model, Transformer):
        return TransformerDims.of(model)
    if isinstance(model, Bahdanau):
        return RNNDims.of(model)
    raise ValueError(f"no FLOP formula for {type(model).__name__}; add one to nmt/flops.py")


def formula_of(model: Seq2Seq) -> str:
    """The formula ``dims_of(model).forward_flops`` implements, in words, for reports."""
    return TRANSFORMER_FORMULA if isinstance(model, Transformer) else RNN_FORMULA


def forward_flops(model: Seq2Seq, src_lens: Sequence[int], tgt_lens: Sequence[int]) -> int:
    """Forward FLOPs of a batch of pairs with these real lengths (padding not counted).

    Args:
        model: a Transformer or a Bahdanau model.
        src_lens: real source length of each pair (EOS included).
        tgt_lens: real target length of each pair (BOS, or equally EOS, included once).
    """
    dims = dims_of(model)
    return sum(dims.forward_flops(int(s), int(t)) for s, t in zip(src_lens, tgt_lens, strict=True))


@dataclass(frozen=True)
class PeakRate:
    """The best fp32 matmul rate measured: ``gflops`` from ``size`` × ``size`` products on ``threads`` threads."""

    gflops: float
    size: int
    threads: int
    repeats: int
    trials: int
    best_seconds: float


def peak_matmul_gflops(size: int = 2048, repeats: int = 3, trials: int = 5) -> PeakRate:
    """Time ``repeats`` square fp32 products per trial after a warm-up one; keep the fastest trial.

    Uses torch's current thread setting (``torch.get_num_threads()``), as training does.
    """
    if size < 1 or repeats < 1 or trials < 1:
        raise ConfigError(f"peak: size, repeats and trials must be >= 1, got {size}, {repeats}, {trials}")
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(size, size, generator=gen), torch.randn(size, size, generator=gen)  # (N, N)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)  # warm-up: thread pool start, allocation
    best = float("inf")
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(repeats):
            torch.mm(a, b, out=out)
        best = min(best, (time.perf_counter() - start) / repeats)
    gflops = 2 * size**3 / best / 1e9
    return PeakRate(round(gflops, 2), size, torch.get_num_threads(), repeats, trials, round(best, 5))


def machine_info() -> dict:
    """torch version, threads, CPU model (from /proc/cpuinfo when present), load average."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    return {
        "cpu_model": cpu,
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def _busy_cpu_seconds() -> float | None:
    """CPU seconds every process has used since boot, from /proc/stat (None where there is none)."""
    stat = Path("/proc/stat")
    if not stat.is_file():
        return None
    fields = [int(x) for x in stat.read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class OtherLoad:
    """Measures, over a ``with`` block, the share of all CPUs that *other* processes kept busy.

    0 means the benchmark had the machine to itself; 0.5 on 2 CPUs means another process used a
    whole core, and the timings of the block are not to be trusted. ``share`` is None off Linux.
    """

    def __init__(self) -> None:
        self.share: float | None = None

    def __enter__(self) -> OtherLoad:
        self._start = (_busy_cpu_seconds(), _own_cpu_seconds(), time.perf_counter())
        return self

    def __exit__(self, *exc: object) -> None:
        busy, own, wall = _busy_cpu_seconds(), _own_cpu_seconds(), time.perf_counter()
        if busy is None or self._start[0] is None:
            return
        others = (busy - self._start[0]) - (own - self._start[1])
        self.share = round(max(0.0, others) / ((wall - self._start[2]) * (os.cpu_count() or 1)), 3)


def reset_peak_rss() -> bool:
    """Reset the process's peak-RSS mark (Linux ≥ 4.0), so the next reading is this model's alone."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """``resource.getrusage`` ru_maxrss in MB (kilobytes on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1)
