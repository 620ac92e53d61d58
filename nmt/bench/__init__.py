"""``python -m nmt.bench``: how fast both models train and decode on this machine.

Usage::

    python -m nmt.bench [data.root=../shared/data/multi30k] [threads=2] [steps=30] [warmup=5]
        [sentences=1000] [sequential_sentences=200] [decode_workers=[1,2]] [decode_max_tokens=16384]
        [beam.stopping=shortest] [run=<run dir> | run=[<run>,<run>]] [quick=true]

One run measures, with torch's thread setting (``threads=`` changes it for everything):

* ``peak_gflops``: the best rate of large square fp32 matmuls, what MFU is relative to; sampled before
  and after every model, the best sample kept (a shared machine's load only ever lowers a sample).
* per model (conf/model/<name>.yaml at its default size), on batches of the composed train config
  (Multi30k when ``data.root`` is given or ``<cache_dir>/multi30k`` holds it, else the toy corpus):
  training target tokens/s over ``steps`` optimiser steps after ``warmup`` ones, analytic FLOPs per
  target token (``nmt.flops``), MFU = achieved FLOP/s / peak, padding of the batches used, peak RSS.
* per model: decoding sentences/s on the test split, greedy and beam, in ``nmt.decoding``'s
  token-budget batches (``data.eval_max_tokens``: sentences × beams × longest source, or
  ``decode_max_tokens`` when given) and one sentence at a time, with the mean output and reference lengths (an
  untrained model stops at arbitrary lengths, often 0 or the limit, so ``run=`` measures trained ones).
  The batched rows again in each process count of ``decode_workers`` beyond 1 (``nmt.decoding``'s
  ``workers``: processes sharing torch's threads, one each on a 2-core machine), keyed
  ``<search>_batched_<n>proc``; ``beam.stopping`` picks the beam's stopping rule (``nmt.beam``).
* around each measurement, the share of the CPUs that other processes kept busy (``nmt.flops.OtherLoad``):
  on a shared machine it says which numbers to distrust.

Training runs through a real ``pl.Trainer`` (the one ``nmt.train`` builds, minus validation,
checkpoints and loggers) with a timing callback, rather than a hand-written loop: forward,
label-smoothed loss, backward, gradient clipping, Adam and the LR schedule are then exactly what
training runs (and stay so when the speed work changes the module or the trainer config), and the
clock, read at the end of every step, also counts data loading and Lightning's per-step overhead,
which training pays too. Lightning puts the module in train mode, so dropout is on (checked).

Writes ``output`` (default ``runs/bench/<date>_<time>.json``) and prints a table of the figures.

``python -m nmt.bench.levers`` trains each model under each CPU lever (threads against DDP processes,
eager against ``torch.compile``) and prints them side by side.

``python -m nmt.bench.large_corpus`` is a separate script: a generated corpus of millions of pairs,
its vocabulary, its memory-mapped store and training from it, beside Multi30k.
"""

from nmt.bench.config import CONF_DIR, DataChoice, choose_data, compose_train, effective_config, train_config
from nmt.bench.decoding import TestSet, decoding_report, run_test_set, spread, time_decoding
from nmt.bench.report import format_profile, format_report
from nmt.bench.suite import bench, bench_model
from nmt.bench.training import StepTimer, batch_lengths, run_training, top_ops, training_report

__all__ = [
    "CONF_DIR",
    "DataChoice",
    "StepTimer",
    "TestSet",
    "batch_lengths",
    "bench",
    "bench_model",
    "choose_data",
    "compose_train",
    "decoding_report",
    "effective_config",
    "format_profile",
    "format_report",
    "run_test_set",
    "run_training",
    "spread",
    "time_decoding",
    "top_ops",
    "train_config",
    "training_report",
]
