"""Forward and backward of ``F.scaled_dot_product_attention`` on the CPU, one thread: the fused (flash) kernel
against the unfused (math) one, in bf16 and fp32, at shapes of Multi30k batches (4 heads of 64):

    OMP_NUM_THREADS=1 python docs/results/cpu-levers/sdpa_bf16.py [output.json]

Prints milliseconds per call (mean of 20 after 3 warm-up calls) and writes them as JSON when a path is given.
"""

import json
import sys
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

SHAPES = [(200, 20, 20), (100, 40, 40), (40, 100, 100)]  # (B, T, S): about 4,000 target tokens a batch
BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "math": SDPBackend.MATH}


def ms_per_call(B: int, T: int, S: int, dtype: torch.dtype, backend: SDPBackend, backward: bool, n: int = 20) -> float:
    h, d = 4, 64
    q = torch.randn(B, h, T, d, dtype=dtype, requires_grad=backward)  # (B, h, T, d_k)
    k, v = (torch.randn(B, h, S, d, dtype=dtype, requires_grad=backward) for _ in range(2))  # (B, h, S, d_k)
    mask = torch.ones(B, 1, 1, S, dtype=torch.bool)  # a key padding mask, as the encoder and cross-attention pass

    def call() -> None:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        if backward:
            out.sum().backward()

    with sdpa_kernel(backend):
        for _ in range(3):
            call()
        start = time.perf_counter()
        for _ in range(n):
            call()
    return (time.perf_counter() - start) / n * 1000


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rows = []
    print(f"{'B':>4} {'T':>4} {'S':>4} {'pass':<8} {'dtype':<9} {'flash ms':>9} {'math ms':>9} {'flash/math':>10}")
    for (B, T, S), backward, dtype in (
        (shape, b, dt) for shape in SHAPES for b in (False, True) for dt in (torch.bfloat16, torch.float32)
    ):
        ms = {name: ms_per_call(B, T, S, dtype, be, backward) for name, be in BACKENDS.items()}
        row = {"B": B, "T": T, "S": S, "pass": "fwd+bwd" if backward else "fwd", "dtype": str(dtype).split(".")[1]}
        rows.append(row | {f"{name}_ms": round(t, 2) for name, t in ms.items()})
        print(
            f"{B:>4} {T:>4} {S:>4} {row['pass']:<8} {row['dtype']:<9} {ms['flash']:>9.2f} {ms['math']:>9.2f}"
            f" {ms['flash'] / ms['math']:>10.2f}"
        )
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            json.dump({"torch": torch.__version__, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
