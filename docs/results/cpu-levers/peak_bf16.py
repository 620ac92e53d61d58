"""The 2048² matmul rate on one thread in fp32 and in bf16 (best of 5 samples of 3 products each).

    OMP_NUM_THREADS=1 python docs/results/cpu-levers/peak_bf16.py docs/results/cpu-levers/peak-bf16.json

The bf16 rows of the levers tables divide by the fp32 peak; this says how much faster the bf16 units are.
"""

import json
import sys
import time

import torch

torch.set_num_threads(1)
n = 2048
a, b = torch.randn(n, n), torch.randn(n, n)
rates = {}
for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
    x, y = a.to(dtype), b.to(dtype)
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(3):
            x @ y
        samples.append(round(3 * 2 * n**3 / (time.perf_counter() - start) / 1e9, 1))
    rates[name] = {"gflops": max(samples), "samples": samples}
    print(name, max(samples), "GFLOP/s")
with open(sys.argv[1], "w") as f:
    json.dump({"size": n, "threads": 1, "torch": torch.__version__, **rates}, f, indent=1)
