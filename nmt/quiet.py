"""Third-party noise kept out of the commands' output, filtered where it originates.

Each filter names the exact message, category and module of one known line that is not the
user's business (a sales tip, a deprecation inside Lightning, a logging-interval remark on a short
epoch); anything else, including every warning about the user's own settings, still shows.
``LineProgress`` replaces Lightning's tqdm bar when the output is not a terminal (bars written to a
file or a pipe run together into one unreadable line).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ProgressBar
from pytorch_lightning.utilities.warnings import PossibleUserWarning

# Lightning logs these through the logger of ``rank_zero_info``: its advertising ("💡 Tip: … try
# installing litlogger/litmodels"), a TPU line on machines without one, and a remark that the
# default val_check_interval=1.0 validates at the end of each epoch.
_INFO_LOGGER = "pytorch_lightning.utilities.rank_zero"
_NOISE = re.compile(r"💡 Tip:|TPU available: False|`Trainer\(val_check_interval=1\.0\)` was configured so")


# The model summary's FLOP count is 0 unless the module sets ``example_input_array`` (ours take
# variable-length batches): a zero there would read as a measurement. nmt.bench measures FLOPs.
_SUMMARY_LOGGER = "pytorch_lightning.callbacks.model_summary"
_ZERO_FLOPS = re.compile(r"\n0\s+Total Flops[ \t]*(?=\n|$)")


class _DropNoise(logging.Filter):
    """Drops the Lightning info lines of ``_NOISE``; takes the zero FLOP count out of the model summary."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _NOISE.match(message) is not None:
            return False
        if "Total Flops" in message:
            record.msg, record.args = _ZERO_FLOPS.sub("", message), ()
        return True


def quiet_lightning() -> None:
    """Filter Lightning's known noise (idempotent): its tips and idle remarks, the ``LeafSpec`` deprecation it
    triggers in torch, the DDP advice to sync ``val/bleu`` (computed from hypotheses gathered from every
    rank, so already the same everywhere), and the logging-interval remark on an epoch shorter than
    ``log_every_n_steps`` (training loss is then logged every ``log_every_n_steps`` steps across epochs,
    as configured)."""
    for name in (_INFO_LOGGER, _SUMMARY_LOGGER):
        info_logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNoise) for f in info_logger.filters):
            info_logger.addFilter(_DropNoise())
    warnings.filterwarnings(
        "ignore",
        message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        category=FutureWarning,
        module=r"pytorch_lightning\.utilities\._pytree",
    )
    warnings.filterwarnings(  # under DDP: val/bleu and its clock are computed identically on every rank
        "ignore",
        message=r"It is recommended to use `self\.log\('val/(bleu|wall_time_s)', \.\.\., sync_dist=True\)`",
        module=r"pytorch_lightning\.trainer\.connectors\.logger_connector\.result",
    )
    warnings.filterwarnings(
        "ignore",
        message=r"The number of training batches \(\d+\) is smaller than the logging interval",
        category=PossibleUserWarning,
        module=r"pytorch_lightning\.loops\.fit_loop",
    )


def on_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default: standard output, where Lightning's bar goes) is a terminal."""
    stream = sys.stdout if stream is None else stream
    return bool(getattr(stream, "isatty", lambda: False)())


class LineProgress(ProgressBar):
    """Plain progress lines for logs and pipes: one after each validation and one every
    ``every_n_steps`` optimiser steps, ``epoch E step S: train/loss=… val/bleu=…``."""

    def __init__(self, every_n_steps: int = 100, stream: TextIO | None = None) -> None:
        super().__init__()
        self.every_n_steps = every_n_steps
        self._stream = stream
        self._enabled = True

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        if self._enabled and self.every_n_steps > 0 and step > 0 and step % self.every_n_steps == 0:
            self._line(trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._enabled and not trainer.sanity_checking:
            self._line(trainer, pl_module)

    def _line(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = {k: v for k, v in self.get_metrics(trainer, pl_module).items() if k != "v_num"}
        shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
        stream = self._stream or sys.stdout
        print(f"epoch {trainer.current_epoch} step {trainer.global_step}: {shown}".rstrip(), file=stream, flush=True)


# torch's profiler (kineto, C++) writes "USDT: … profiler_start/stop" to file descriptor 2 whatever
# KINETO_LOG_LEVEL says; Python's warnings and logging cannot reach it.
_PROFILER_CHATTER = re.compile(r"^(USDT|STAGE):\S* \S+ \d+:\d+ \w+\.cpp:\d+\]")


@contextmanager
def profiler_chatter_dropped() -> Iterator[None]:
    """Around ``profiler.start()``/``stop()``: the profiler's own ``USDT:`` lines on stderr are
    dropped; anything else written to stderr meanwhile is passed on."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept = [line for line in sink.read().decode(errors="replace").splitlines(keepends=True)
                    if not _PROFILER_CHATTER.match(line)]  # fmt: skip
            sys.stderr.write("".join(kept))
