"""train.malloc: freed memory stays in the process, so a repeated step maps no fresh pages."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nmt.allocator import _mallopt, check_malloc_mode, malloc_mode
from nmt.errors import ConfigError

# One "step": forty 1 MiB tensors and one of 48 MiB (above glibc's largest mmap threshold), all freed at
# the end, as activations and logits are after a backward pass. Prints the minor page faults of the
# last 8 of 12 steps.
STEPS = """
import sys, torch
from nmt.allocator import configure_malloc
from nmt.flops import minor_faults
print(configure_malloc(sys.argv[1]))
def step():
    small = [torch.ones(2**18) for _ in range(40)]
    large = torch.ones(12 * 2**20)
    return sum(t.numel() for t in small) + large.numel()
for i in range(12):
    if i == 4:
        before = minor_faults()
    step()
print(minor_faults() - before)
"""


def _faults(mode: str) -> tuple[bool, int]:
    out = subprocess.run([sys.executable, "-c", STEPS, mode], capture_output=True, text=True, check=True).stdout
    applied, faults = out.split()
    return applied == "True", int(faults)


@pytest.mark.skipif(_mallopt() is None, reason="glibc's mallopt is Linux with glibc only")
def test_retained_memory_is_reused_without_page_faults():
    glibc_applied, glibc = _faults("glibc")
    small_applied, small = _faults("retain_small")
    retain_applied, retain = _faults("retain")
    assert (glibc_applied, small_applied, retain_applied) == (False, True, True)
    large_pages = 48 * 2**20 // 4096  # the 48 MiB tensor, over glibc's largest mmap threshold (32 MiB)
    pages_per_step = 40 * 2**20 // 4096 + large_pages
    # glibc maps the large tensor afresh every step (the 1 MiB ones too whenever it trims the heap);
    # retain_small still does for the large one
    assert glibc >= 8 * large_pages and small >= 8 * large_pages
    # retain reuses it all: at most one step's worth of fresh pages in eight (the heap may settle once)
    assert retain <= pages_per_step


def test_a_bad_mode_is_a_one_line_config_error_and_old_configs_keep_glibc():
    with pytest.raises(ConfigError, match=r"^train\.malloc=tcmalloc is not one of retain, retain_small, glibc"):
        check_malloc_mode("tcmalloc")
    assert malloc_mode({"train": {"compile_loss": True}}) == "glibc"  # a run folder from before train.malloc
    assert malloc_mode({"train": {"malloc": "retain"}}) == "retain"
