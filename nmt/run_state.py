"""What a training run carries across an interruption, as Lightning plug-ins.

* ``AtomicCheckpointIO``: every checkpoint is written to a temporary file and renamed, so a kill
  mid-save leaves the previous file whole.
* ``LastCheckpoint``: keeps ``checkpoints/last.ckpt`` current (every n steps, after every
  validation, at the end) and, on SIGINT or SIGTERM, saves it once the state is whole (after the
  current batch, or after the validation under way or due) and stops through Lightning's own
  SIGTERM path (``trainer.received_sigterm`` → ``SIGTERMException``); a second Ctrl-C stops at once.
* ``RngState``: the torch / numpy / Python RNG states, saved in the checkpoint and put back before
  the first batch of a resumed run (Lightning does not save them itself).
* ``SpacedCheckpoint``: the averaging pool, whose checkpoints are at least ``min_gap_steps`` apart.
* ``AppendingCSVLogger``: ``metrics.csv`` continued by a resumed run (rows after the resume point
  dropped, since the resumed run writes them again), flushed at every log call.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import random
import signal
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from lightning_fabric.loggers.csv_logs import _ExperimentWriter
from pytorch_lightning.callbacks import Checkpoint, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.logger import rank_zero_experiment
from pytorch_lightning.plugins.io import TorchCheckpointIO
from pytorch_lightning.utilities.exceptions import SIGTERMException

from nmt.atomic import save_torch_atomic, write_text_atomic

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's ``torch.save`` checkpoint writer, through a temporary file in the same folder."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options (got {storage_options!r})")
        save_torch_atomic(checkpoint, Path(path))


class LastCheckpoint(Checkpoint):
    """``last.ckpt``, the checkpoint a resume starts from; graceful stop on SIGINT and SIGTERM.

    Args:
        path: the file (``<run>/checkpoints/last.ckpt``).
        every_n_steps: also save every n optimiser steps (0: only at validations, the end and a
            signal); a SIGKILL then loses at most n steps.
    """

    def __init__(self, path: str | Path, every_n_steps: int = 0) -> None:
        super().__init__()
        if every_n_steps < 0:
            raise ValueError(f"checkpoint.every_n_steps={every_n_steps} must be >= 0 (0: no periodic checkpoint)")
        self.path, self.every_n_steps = Path(path), int(every_n_steps)
        self.signal: str | None = None  # "SIGINT" or "SIGTERM" once one was received
        self.saved_step: int | None = None
        self._previous_sigint: Any = None
        self._lightning_sigterm: Any = None
        self._trainer: pl.Trainer | None = None
        self._held: int | None = None  # a signal received during a validation, acted on at its end

    def save(self, trainer: pl.Trainer) -> None:
        """Write ``last.ckpt`` now (all ranks call ``save_checkpoint``; rank 0 writes).

        A Ctrl-C during the write is held back until the file is complete, then acted on.
        """
        if threading.current_thread() is not threading.main_thread():
            trainer.save_checkpoint(self.path, weights_only=False)
            self.saved_step = trainer.global_step
            return
        held: list[int] = []
        previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
        try:
            trainer.save_checkpoint(self.path, weights_only=False)
            self.saved_step = trainer.global_step
        finally:
            signal.signal(signal.SIGINT, previous)
        if held and callable(previous):
            previous(signal.SIGINT, None)

    def _due(self, trainer: pl.Trainer) -> bool:
        return trainer.global_step > 0 and trainer.global_step != self.saved_step

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self._trainer = trainer
        self._lightning_sigterm = signal.getsignal(signal.SIGTERM)
        self._previous_sigint = signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        """SIGINT/SIGTERM: stop at the next point where the state is whole: after this batch, or
        after the validation under way or about to run (a validation cut short would be lost:
        resuming does not redo it). The stop goes through Lightning's SIGTERM path."""
        name = signal.Signals(signum).name
        self.signal = self.signal or name
        again = ""
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops at once
            again = " (Ctrl-C again: stop at once)"
        print(f"\n{name}: saving a checkpoint after this batch (or validation), then stopping{again}", flush=True)
        self._held = signum

    def _notify_lightning(self, signum: int) -> None:
        """Lightning's SIGTERM handler: sets ``trainer.received_sigterm``, acted on after the batch."""
        handler = self._lightning_sigterm
        if callable(handler):
            handler(signum, None)
        else:
            raise KeyboardInterrupt

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if _validation_follows(trainer) or _at_epoch_end(trainer):
            return  # the save (and a held stop) waits for that validation or the epoch's end
        if self._held is not None:
            held, self._held = self._held, None
            self._notify_lightning(held)
        if trainer.received_sigterm:
            self.signal = self.signal or "SIGTERM"
            if self._due(trainer):
                self.save(trainer)  # Lightning raises SIGTERMException once this batch is done
        elif self.every_n_steps and trainer.global_step % self.every_n_steps == 0 and self._due(trainer):
            self.save(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # At an epoch's end the best/pool checkpoints are written later, in on_train_epoch_end:
        # last.ckpt waits for them, so that its copy of their state includes this validation.
        if trainer.sanity_checking or _at_epoch_end(trainer):
            return
        self._save_and_stop(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._save_and_stop(trainer)  # Lightning checks the stop flag right after this hook

    def _save_and_stop(self, trainer: pl.Trainer) -> None:
        if self._due(trainer):
            self.save(trainer)
        if self._held is not None:
            held, self._held = self._held, None
            self._notify_lightning(held)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._due(trainer):
            self.save(trainer)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        # Only a graceful stop saves: any other exception may have left the weights half-updated.
        if isinstance(exception, SIGTERMException):
            self.signal = self.signal or "SIGTERM"
            if self._due(trainer):
                self.save(trainer)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if self._previous_sigint is not None:
            signal.signal(signal.SIGINT, self._previous_sigint)
            self._previous_sigint = None
        if signal.getsignal(signal.SIGTERM) == self._on_signal:  # else Lightning already restored its own
            signal.signal(signal.SIGTERM, self._lightning_sigterm)
        self._trainer = None


def _validation_follows(trainer: pl.Trainer) -> bool:
    """Whether Lightning validates right after the batch that just ended (its own decision).

    A stop flag set before that validation would make Lightning cut it short, so a held signal
    waits for its end instead.
    """
    loop = trainer.fit_loop.epoch_loop
    try:
        return bool(loop._should_check_val_fx(trainer.fit_loop._data_fetcher))
    except AttributeError:  # another Lightning version: stop after the batch
        return False


def _at_epoch_end(trainer: pl.Trainer) -> bool:
    """Whether the batch that just ended was the last of its epoch."""
    return bool(trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)


class RngState(pl.Callback):
    """Saves the global RNG states in checkpoints and restores them before the first resumed batch."""

    def __init__(self) -> None:
        super().__init__()
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        name, keys, pos, has_gauss, gauss = np.random.get_state()
        state: dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
            "python": random.getstate(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict

    def on_train_batch_start(self, *args: Any, **kwargs: Any) -> None:
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        torch.set_rng_state(state["torch"])
        name, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        version, internal, gauss_next = state["python"]
        random.setstate((version, tuple(internal), gauss_next))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


class SpacedCheckpoint(ModelCheckpoint):
    """The most recent ``save_top_k`` checkpoints, each at least ``min_gap_steps`` after the previous one.

    Monitors ``step`` (the newest win). A validation closer than ``min_gap_steps`` to the last kept
    checkpoint (e.g. the one a time limit triggers right after a regular validation) adds nothing, so
    averaging the pool never counts nearly the same weights twice. ``min_gap_steps=None``: half the
    steps between two validations.
    """

    def __init__(self, *args: Any, min_gap_steps: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, monitor="step", mode="max", **kwargs)
        if min_gap_steps is not None and min_gap_steps < 0:
            raise ValueError(f"checkpoint.average_min_gap_steps={min_gap_steps} must be >= 0 (or null)")
        self.min_gap_steps = min_gap_steps

    def gap(self, trainer: pl.Trainer) -> int:
        """The minimum spacing in steps (resolved from the validation interval when not set)."""
        if self.min_gap_steps is not None:
            return self.min_gap_steps
        every = trainer.val_check_batch
        if not isinstance(every, int | float) or every == float("inf"):
            every = trainer.num_training_batches
        if every == float("inf"):
            return 0
        epochs = trainer.check_val_every_n_epoch or 1
        batches = int(every) if every < trainer.num_training_batches else int(every) * epochs
        return max(1, batches // trainer.accumulate_grad_batches // 2)

    def check_monitor_top_k(self, trainer: pl.Trainer, current: torch.Tensor | None = None) -> bool:
        if current is not None and self.best_k_models:
            newest = max(float(v) for v in self.best_k_models.values())
            if float(current) - newest < self.gap(trainer):
                return False
        return super().check_monitor_top_k(trainer, current)


class _AppendingWriter(_ExperimentWriter):
    """Lightning's CSV writer that continues an existing metrics.csv instead of deleting it."""

    def __init__(self, log_dir: str, resume_step: int | None) -> None:
        self._resume_step = resume_step
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        if self._resume_step is None:  # a fresh run never overwrites metrics it did not write
            raise FileExistsError(f"{path} exists; train into a new folder or resume that run")
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            rows = [r for r in reader if r.get("step") and int(float(r["step"])) <= self._resume_step]
        self.metrics_keys = header
        write_text_atomic(path, _csv_text(header, rows))

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        with open(self.metrics_file_path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        write_text_atomic(self.metrics_file_path, _csv_text(fieldnames, rows))


def _csv_text(header: list[str], rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


class AppendingCSVLogger(CSVLogger):
    """``<save_dir>/metrics.csv``, flushed at every log call; continued (not replaced) on resume.

    Its ``step`` column counts optimiser updates done, like ``trainer.global_step`` and the
    checkpoint names (``epoch002-step000864.ckpt``): the validation after update 864 is logged at
    step 864, and a batch's loss and learning rate at the number of its update. Lightning passes
    the 0-based index of the batch being trained (one less), which ``log_metrics`` shifts by one.

    Args:
        save_dir: the run folder.
        resume_step: the global step of the checkpoint a resumed run starts from: rows logged
            after it are dropped (the resumed run logs them again); None for a fresh run.
    """

    def __init__(self, save_dir: str | Path, resume_step: int | None = None) -> None:
        super().__init__(save_dir=str(save_dir), name="", version="", flush_logs_every_n_steps=1)
        self.resume_step = resume_step

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Nothing: the run's ``config.yaml`` holds every setting (no second copy in hparams.yaml)."""

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Log ``metrics`` at ``step + 1`` updates (see the class docstring)."""
        super().log_metrics(metrics, None if step is None else step + 1)

    @property
    @rank_zero_experiment
    def experiment(self) -> _ExperimentWriter:
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(self.log_dir, self.resume_step)
        return self._experiment
