"""Beam 5 on a trained run's test split under cProfile: wall and CPU seconds, rows stepped, top entries.

    PYTHONPATH=<checkout> python docs/results/beam-speed/profile_beam.py <run dir> <label> <out.json> \
        [<multi30k dir>] [<stopping>] [<precision>]

The fourth argument is where the Multi30k files are (``data.root``; default ``../shared/data/multi30k``,
the copy beside this repository); the fifth, the beam's stopping rule (``exact`` or ``shortest``; not
given: the checkout's default, the only choice before the rule had a setting); the sixth, ``int8`` to
profile the int8 copy of the model (``nmt.int8.quantized_copy``, what ``decode.precision=int8`` decodes
with), quantized before the clock starts.

Run it with ``PYTHONPATH`` set to the checkout whose ``nmt`` is measured (a worktree of the base
commit for "before"). CPU seconds are this process's own, so they stay meaningful on a shared
machine where wall seconds also count the other processes' turns.
"""

import cProfile
import io
import json
import pstats
import sys
import time

import torch
from omegaconf import OmegaConf

import nmt
from nmt.bench.decoding import run_test_set
from nmt.checkpoint import load_run
from nmt.decoding import decode_ids
from nmt.search import DecodeSettings

torch.set_num_threads(1)
run_dir, label, out = sys.argv[1:4]
data_root = sys.argv[4] if len(sys.argv) > 4 else "../shared/data/multi30k"
stopping = {"stopping": sys.argv[5]} if len(sys.argv) > 5 else {}
run = load_run(run_dir, "best")
if len(sys.argv) > 6 and sys.argv[6] == "int8":
    from nmt.int8 import quantized_copy

    run.model = quantized_copy(run.model)  # decoded at "fp32" below: the copy's matmuls are already int8
test = run_test_set(run, OmegaConf.create({"data": {"root": data_root}}))
settings = DecodeSettings(
    strategy="beam", beam_size=5, length_penalty=0.6, n_best=1, max_len_a=1.5, max_len_b=10, **stopping
)
model, rows, step = run.model, [], run.model.step


def counting(prev, state, need_weights=False):  # rows the model computes, step by step
    rows.append(prev.size(0))
    return step(prev, state, need_weights)


model.step = counting
decode_ids(model, test.dataset.src[:50], settings, 4096)  # warm-up
rows.clear()
profile = cProfile.Profile()
wall, cpu = time.perf_counter(), time.process_time()
profile.enable()
hyps = decode_ids(model, test.dataset.src, settings, 4096)
profile.disable()
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
text = io.StringIO()
pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(12)
n = len(hyps)
report = {
    "label": label,
    "stopping": stopping.get("stopping", "exact"),
    "precision": sys.argv[6] if len(sys.argv) > 6 else "fp32",
    "nmt": nmt.__file__,
    "run": run_dir,
    "sentences": n,
    "wall_s": round(wall, 2),
    "cpu_s": round(cpu, 2),
    "sentences_per_wall_s": round(n / wall, 1),
    "sentences_per_cpu_s": round(n / cpu, 1),
    "steps": len(rows),
    "rows_stepped_per_sentence": round(sum(rows) / n, 1),
    "beams_x_output_tokens_per_sentence": round(5 * sum(len(h[0].tokens) + 1 for h in hyps) / n, 1),
    "profile_top": [line for line in text.getvalue().splitlines() if line.strip()][-14:],
}
with open(out, "w") as f:
    json.dump(report, f, indent=1)
print(label, report["sentences_per_wall_s"], "sent/s wall", report["sentences_per_cpu_s"], "sent/cpu-s")
