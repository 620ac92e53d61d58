"""The Trainer of a training run: fixed checkpoints, and callbacks, loggers and the strategy from the config.

Fixed (always on, not in the config): they are the run folder's contract that the other commands
and resuming rely on.

* the best checkpoint by ``checkpoint.monitor`` (``checkpoints/best-*.ckpt``: what evaluate,
  translate and results.json point at);
* the averaging pool (``SpacedCheckpoint``: ``average=N`` in nmt.evaluate and ``checkpoint.average``);
* ``checkpoints/last.ckpt`` and the graceful stop on SIGINT/SIGTERM (``LastCheckpoint``: resume);
* the RNG states in every checkpoint (``RngState``: an exact resume);
* the budget clock that a schedule's cooldown reads (``nmt.schedule.BudgetClock``).

From the config (``conf/callbacks/*.yaml``, ``conf/logger/*.yaml``: one ``_target_`` entry per
name, ``null`` drops one): the learning-rate monitor, the attention heatmaps, early stopping, and the
loggers. A logger is given ``save_dir=<run folder>`` unless its entry sets one, and ``resume_step``
when it takes one (``AppendingCSVLogger``, which writes ``metrics.csv``: required, as nmt.compare,
nmt.plot and resuming read it). ``trainer.strategy`` is a name of Lightning's or a ``_target_`` entry
(``conf/trainer/ddp.yaml``: ``DDPStrategy`` with its options), built by ``trainer_arguments``.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import Logger
from pytorch_lightning.strategies import DDPStrategy
from torch.nn.parallel import DistributedDataParallel as DDP

from nmt.cpu_flags import has_native_bf16
from nmt.errors import ConfigError
from nmt.quiet import LineProgress, on_terminal, quiet_lightning
from nmt.resume import LAST
from nmt.run_state import AppendingCSVLogger, AtomicCheckpointIO, LastCheckpoint, RngState, SpacedCheckpoint
from nmt.schedule import BudgetClock


def _on_gpu(accelerator: str) -> bool:
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def _ddp_precision(accelerator: str) -> str:
    """conf/trainer/ddp.yaml's precision: bf16 mixed precision on GPUs, full fp32 on CPUs."""
    return "bf16-mixed" if _on_gpu(accelerator) else "32-true"


def recipe_precision(accelerator: str) -> str:
    """The Multi30k recipes' precision (conf/experiment/multi30k_*.yaml): bf16 mixed precision where the
    device multiplies bf16 natively, GPUs and CPUs with AVX512_BF16 or AMX; full fp32 elsewhere, where
    bf16 is emulated and slower. On this project's 2-core EPYC, bf16 trained 1.37x (Transformer) and
    1.23x (RNN) the tokens/s of fp32 (docs/results/cpu-levers/) and higher en→de val BLEU in the same
    minutes (docs/results/multi30k-recipe/, rounds 6 and 7). Run folders save it resolved (config.yaml)."""
    native = _on_gpu(accelerator) or (accelerator in ("cpu", "auto") and has_native_bf16())
    return "bf16-mixed" if native else "32-true"


# Registered with the library (not the command) so that train() called from Python resolves them too.
OmegaConf.register_new_resolver("nmt_ddp_precision", _ddp_precision, replace=True)
OmegaConf.register_new_resolver("nmt_recipe_precision", recipe_precision, replace=True)


class RunCallbacks(SimpleNamespace):
    """The callbacks ``train`` reads back after fitting (all of them are in ``all``)."""

    best: ModelCheckpoint
    pool: SpacedCheckpoint
    last: LastCheckpoint
    all: list[pl.Callback]


def entries(cfg: DictConfig, group: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, plain config) of each entry of ``cfg.<group>`` (``callbacks`` or ``logger``); a null
    entry is skipped.

    Raises:
        ConfigError: an entry that is not a mapping with a ``_target_``.
    """
    node = cfg.get(group)
    for name, value in (OmegaConf.to_container(node, resolve=True) if node is not None else {}).items():
        if value is None:
            continue
        if not isinstance(value, Mapping) or "_target_" not in value:
            raise ConfigError(
                f"{group}.{name}: {value!r} is not a _target_ entry; choose entries of conf/{group}/ "
                f"({group}=[…]) or drop it with {group}.{name}=null"
            )
        yield str(name), dict(value)


def _instantiate(config: dict[str, Any], key: str, **kwargs: Any) -> Any:
    """``instantiate`` with a one-line ConfigError naming ``key`` when the target or an argument is wrong."""
    try:
        return instantiate(config, **kwargs)
    except (InstantiationException, ImportError, TypeError, ValueError) as err:
        cause = err.__cause__ or err
        raise ConfigError(f"{key}: {str(cause).splitlines()[0]}") from None


def build_callbacks(cfg: DictConfig, run_dir: Path) -> RunCallbacks:
    """The fixed checkpoint callbacks and the configured ones (``cfg.callbacks``)."""
    ckpt = cfg.checkpoint
    best = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best-epoch{epoch:03d}-step{step:06d}",
        auto_insert_metric_name=False,
        monitor=ckpt.monitor,
        mode=ckpt.mode,
        save_top_k=1,
    )
    # The pool for checkpoint averaging (nmt.evaluate average=N): the most recent validations,
    # spaced by at least checkpoint.average_min_gap_steps.
    pool = SpacedCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="epoch{epoch:03d}-step{step:06d}",
        auto_insert_metric_name=False,
        save_top_k=ckpt.keep_last,
        min_gap_steps=ckpt.get("average_min_gap_steps"),
    )
    last = LastCheckpoint(run_dir / LAST, every_n_steps=ckpt.get("every_n_steps") or 0)
    configured = [_instantiate(c, f"callbacks.{name}") for name, c in entries(cfg, "callbacks")]
    # last.ckpt after best and pool: its copy of their state includes this validation's update.
    return RunCallbacks(best=best, pool=pool, last=last, all=[*configured, BudgetClock(), RngState(), best, pool, last])


def build_loggers(cfg: DictConfig, run_dir: Path, resume_step: int | None) -> list[Logger]:
    """The loggers of ``cfg.logger``, writing into ``run_dir``.

    Raises:
        ConfigError: a bad entry, or no ``AppendingCSVLogger`` (metrics.csv) among them.
    """
    loggers = []
    for name, config in entries(cfg, "logger"):
        factory = _instantiate(config, f"logger.{name}", _partial_=True)
        extra: dict[str, Any] = {} if "save_dir" in config else {"save_dir": str(run_dir)}
        if "resume_step" in inspect.signature(factory.func).parameters:
            extra["resume_step"] = resume_step
        try:
            loggers.append(factory(**extra))
        except (ImportError, TypeError, ValueError) as err:  # e.g. MLflow or wandb not installed
            raise ConfigError(f"logger.{name}: {str(err).splitlines()[0]}") from None
    if not any(isinstance(lg, AppendingCSVLogger) for lg in loggers):
        raise ConfigError(
            "logger: no csv entry; metrics.csv is the run's record (nmt.compare, nmt.plot and resume read it): "
            "keep csv in the list, e.g. logger=[csv,tensorboard]"
        )
    return loggers


def trainer_arguments(trainer: DictConfig) -> dict[str, Any]:
    """``cfg.trainer`` as keyword arguments of ``pl.Trainer``.

    A ``strategy`` given by name (``ddp``, ``auto``) passes as it is; one given as a ``_target_`` entry,
    as conf/trainer/ddp.yaml gives Lightning's ``DDPStrategy`` with its options, is built here.

    Raises:
        ConfigError: a strategy entry without ``_target_``, or one that cannot be built.
    """
    args = OmegaConf.to_container(trainer, resolve=True)
    strategy = args.get("strategy")
    if isinstance(strategy, Mapping):
        if "_target_" not in strategy:
            raise ConfigError(
                f"trainer.strategy: {strategy!r} has no _target_; give a name (trainer.strategy=ddp) or an entry "
                "such as conf/trainer/ddp.yaml's (_target_: pytorch_lightning.strategies.DDPStrategy)"
            )
        args["strategy"] = _instantiate(strategy, "trainer.strategy")
        _check_ddp_options(args["strategy"], strategy)
    return args


def _check_ddp_options(strategy: Any, options: Mapping[str, Any]) -> None:
    """``DDPStrategy`` hands the options it does not take itself to ``DistributedDataParallel`` only when
    fitting starts, after the data work: a misspelt one fails here instead.

    Raises:
        ConfigError: an option that neither of them takes.
    """
    if not isinstance(strategy, DDPStrategy):
        return
    known = (
        inspect.signature(type(strategy).__init__).parameters.keys() | inspect.signature(DDP.__init__).parameters.keys()
    )
    unknown = sorted(k for k in options if not k.startswith("_") and k not in known)
    if unknown:
        raise ConfigError(
            f"trainer.strategy: {unknown[0]} is an option of neither Lightning's DDPStrategy nor torch's "
            "DistributedDataParallel; check its spelling in their documentation"
        )


def make_trainer(cfg: DictConfig, run_dir: Path, cbs: RunCallbacks, resume_step: int | None) -> pl.Trainer:
    """The Trainer (built before any data work, so that bad trainer.* settings fail first)."""
    quiet_lightning()
    trainer_args = trainer_arguments(cfg.trainer)
    progress = [LineProgress()] if trainer_args.get("enable_progress_bar", True) and not on_terminal() else []
    loggers = build_loggers(cfg, run_dir, resume_step)
    try:
        return pl.Trainer(
            **trainer_args,
            deterministic=bool(cfg.get("deterministic", False)),
            default_root_dir=run_dir,
            callbacks=[*cbs.all, *progress],
            logger=loggers,
            plugins=[AtomicCheckpointIO()],
            gradient_clip_val=cfg.model.get("grad_clip"),
            use_distributed_sampler=False,  # the token-bucket sampler shards by rank itself
        )
    except (TypeError, ValueError) as err:  # Lightning's MisconfigurationException is a ValueError
        raise ConfigError(f"trainer: {str(err).splitlines()[0]}") from None
