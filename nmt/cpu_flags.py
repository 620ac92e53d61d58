"""What the CPU multiplies natively, read from its flags (Linux ``/proc/cpuinfo``; elsewhere unknown).

Two choices depend on it: int8 decoding's input bits (VNNI, ``nmt.int8``) and whether the Multi30k
recipes train in bf16 mixed precision on a CPU (AVX512_BF16 or AMX, ``nmt.trainer_setup``).
"""

from __future__ import annotations

import re
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def has_any(flags: tuple[str, ...], cpuinfo: Path | None = None) -> bool:
    """Whether the CPU lists any of ``flags``; False where there is no cpuinfo (assume the worst)."""
    try:
        text = (cpuinfo or CPUINFO).read_text(errors="replace")
    except OSError:
        return False
    return re.search(r"\b(" + "|".join(map(re.escape, flags)) + r")\b", text) is not None


def has_vnni(cpuinfo: Path | None = None) -> bool:
    """8-bit products summed in 32 bits (``avx512_vnni`` or ``avx_vnni``)."""
    return has_any(("avx512_vnni", "avx_vnni"), cpuinfo)


def has_native_bf16(cpuinfo: Path | None = None) -> bool:
    """bf16 matmuls in hardware (``avx512_bf16`` or ``amx_bf16``): about twice the fp32 peak here
    (docs/results/cpu-levers/peak-bf16.json). Without them torch emulates bf16, slower than fp32."""
    return has_any(("avx512_bf16", "amx_bf16"), cpuinfo)
