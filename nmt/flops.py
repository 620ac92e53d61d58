"""Analytic FLOP counts (each model states its formula); this machine: its fp32 matmul rate, its load, peak memory.

Conventions (those of model-FLOP-utilisation, MFU):

* Only matrix products count, each multiply-add as 2 FLOPs: an (M × K) @ (K × N) product is 2·M·K·N.
  LayerNorm, softmax, activations, dropout, embedding look-ups and the loss are left out.
* Only real tokens count: the work spent on padding is waste, and shows as a lower MFU.
* Attention counts every key of the sentence for every query (the causal mask is not halved,
  as in the PaLM paper's count).
* Training costs 3 × the forward pass (the backward pass computes two products per forward one:
  gradients of the inputs and of the weights).

Each model states its own formula (``Seq2Seq.forward_flops`` and ``flops_formula``, in its model
file: ``nmt.models.transformer.TransformerDims``, ``nmt.models.rnn.RNNDims``); per target token it is
the sum over the batch divided by ΣT, so the encoder terms are scaled by the batch's source/target
token ratio.

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

TRAIN_FACTOR = 3  # forward + backward = 3 × forward


def formula_of(model: Seq2Seq) -> str:
    """The formula ``model.forward_flops`` implements, in words, for reports (the model's ``flops_formula``)."""
    return model.flops_formula or f"{type(model).__name__}.forward_flops"


def forward_flops(model: Seq2Seq, src_lens: Sequence[int], tgt_lens: Sequence[int]) -> int:
    """Forward FLOPs of a batch of pairs with these real lengths (padding not counted), as the model counts them.

    Args:
        model: any ``Seq2Seq`` with a ``forward_flops`` formula.
        src_lens: real source length of each pair (EOS included).
        tgt_lens: real target length of each pair (BOS, or equally EOS, included once).

    Raises:
        NotImplementedError: the model has no formula.
    """
    return sum(model.forward_flops(int(s), int(t)) for s, t in zip(src_lens, tgt_lens, strict=True))


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


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo when present, else what ``platform`` knows)."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    return cpu


def machine_info() -> dict:
    """torch version, threads, CPU model, load average."""
    return {
        "cpu_model": cpu_model(),
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
    """CPU seconds of this process and of its finished children (e.g. the decoding worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class OtherLoad:
    """Measures, over a ``with`` block, the share of all CPUs that *other* processes kept busy
    (this process's own children, once they have ended, count as its own).

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


def minor_faults() -> int:
    """Minor page faults of this process so far: pages the kernel mapped (and zeroed) on first touch."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def peak_rss_mb() -> float:
    """``resource.getrusage`` ru_maxrss in MB (kilobytes on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1)
