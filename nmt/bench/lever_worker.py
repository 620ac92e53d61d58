"""One lever measurement in its own process: ``python -m nmt.bench.lever_worker <job.yaml> <out.json>``.

Started by :mod:`nmt.bench.levers`, once per single-process lever and once per rank of the DDP lever
(the ranks find each other through the ``MASTER_ADDR``/``MASTER_PORT``/``WORLD_SIZE``/``LOCAL_RANK``
environment, as under torchrun). A fresh process per measurement makes the thread count, the
compiled kernels and the process group start from nothing each time.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from nmt.bench.config import DataChoice, lever_config
from nmt.bench.training import run_training, training_report
from nmt.checkpoint import build_model
from nmt.data import build_datamodule
from nmt.flops import peak_rss_mb


def measure(cfg: DictConfig, job: DictConfig) -> dict:
    """Training figures of ``job.model`` on ``job.threads`` threads, compiled or eager, on this rank.

    ``job.devices`` > 1 trains under conf/trainer/ddp.yaml (Lightning's DDP, gloo on CPU; the bench's
    ``overrides`` come after it, e.g. ``trainer.strategy.gradient_as_bucket_view=false``); each rank then reports
    only its own batches, and the caller adds the ranks up. ``warmup_seconds`` runs from building
    the Trainer to the end of the warm-up steps, so for a compiled model it holds the compile time.
    """
    torch.set_num_threads(int(job.threads))
    train_cfg = lever_config(cfg, str(job.model), DataChoice(**job.data), int(job.devices))
    dm = build_datamodule(train_cfg)
    dm.prepare_data()
    dm.setup("fit")
    pl.seed_everything(train_cfg.seed, verbose=False)
    model = build_model(train_cfg.model, dm.vocab)
    if job.compile:
        model.compile()  # in place: the module keeps its class, the Lightning module and FLOP formula see it
    started = time.perf_counter()
    timer = run_training(train_cfg, dm, model, cfg)
    report = training_report(timer, model, dm)
    report["warmup_seconds"] = round(timer.start - started, 3)
    report["rank"] = int(os.environ.get("LOCAL_RANK", 0))
    report["threads"] = torch.get_num_threads()
    report["peak_rss_mib"] = peak_rss_mb()  # the whole (fresh) process; the key of the committed lever files
    return report


def main(argv: list[str]) -> None:
    """Read the job (the bench config plus ``job``), measure, write the figures as JSON."""
    spec = OmegaConf.load(argv[0])
    report = measure(spec.cfg, spec.job)
    Path(argv[1]).write_text(json.dumps(report))
    job = spec.job
    print(  # progress: the parent prints nothing until every lever is done
        f"nmt.bench.lever_worker: {job.model} {job.devices}x{job.threads} compile={job.compile} rank {report['rank']}: "
        f"{report['train_tokens_per_s']} tokens/s, warm-up {report['warmup_seconds']} s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
