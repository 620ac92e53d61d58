"""Keep the memory a training step frees for the next step, instead of handing it back to the kernel.

A training step allocates the same large tensors every time (activations, their gradients, the
logits over the vocabulary: megabytes each) and frees them all at the end of the backward pass. With
glibc's default settings, ``free`` returns such memory to the kernel: blocks above the mmap threshold
are unmapped at once, and the top of the heap is trimmed once more than the trim threshold is free.
The next step then maps the memory again, and the kernel zeroes every 4 KiB page on its first touch:
a minor page fault per page, tens of thousands per second in a one-thread Transformer step. (PyTorch
has a caching allocator on GPUs, none on CPUs.)

``configure_malloc`` (``train.malloc=retain``, the default) sets glibc's ``mallopt`` so that freed
memory stays in the process: no trim of the heap, and large blocks taken from the heap as well
instead of fresh mappings. The resident memory then stays at its peak (the largest step so far)
instead of falling back between steps. It is process-wide and is called once, before training;
elsewhere than Linux with glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache

from omegaconf import DictConfig

from nmt.errors import ConfigError

# mallopt(3) parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1  # free memory at the top of the heap above this is returned to the kernel
M_MMAP_THRESHOLD = -3  # requests above this get their own mapping (unmapped again by free)
M_MMAP_MAX = -4  # how many such mappings may exist at once; 0: none, every request from the heap

# The largest trim threshold mallopt accepts (an int): in effect, never trim.
NEVER_TRIM = 2**31 - 1


@cache
def _mallopt():
    """glibc's ``mallopt``, or None where there is none (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return None  # not glibc: musl's mallopt, for one, does nothing
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt


# train.malloc's settings (conf/train.yaml); configure_malloc says what each does
MODES = ("retain", "retain_small", "glibc")


def malloc_mode(cfg: DictConfig) -> str:
    """``train.malloc`` of a training config; ``glibc`` for a config from before the setting existed."""
    return str((cfg.get("train") or {}).get("malloc", "glibc"))


def check_malloc_mode(mode: str) -> None:
    """A ``train.malloc`` value that is not one of ``MODES`` is a one-line ``ConfigError``."""
    if mode not in MODES:
        choices = ", ".join(MODES)
        raise ConfigError(f"train.malloc={mode} is not one of {choices}: set one of them (conf/train.yaml)")


def configure_malloc(mode: str) -> bool:
    """Apply ``train.malloc`` (see ``MODES`` and the module docstring) to this process; True if set.

    ``retain`` also serves requests above the mmap threshold from the heap (``M_MMAP_MAX`` = 0), so
    even the largest tensors of a step (a batch's logits can be 100 MB) reuse memory; ``retain_small``
    keeps separate mappings for those and only stops the trimming. ``glibc`` changes nothing.
    """
    check_malloc_mode(mode)
    mallopt = _mallopt()
    if mode == "glibc" or mallopt is None:
        return False
    ok = mallopt(M_TRIM_THRESHOLD, NEVER_TRIM) == 1
    if mode == "retain":
        return mallopt(M_MMAP_MAX, 0) == 1 and ok
    # the largest fixed threshold glibc accepts on 64-bit: 32 MiB (and no dynamic threshold)
    return mallopt(M_MMAP_THRESHOLD, 32 * 2**20) == 1 and ok
