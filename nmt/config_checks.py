"""Checks of a training config that need no data: run before any corpus is read.

``check_config`` builds the model on the meta device with the configured vocabulary size (no
memory, no weights), the optimiser and LR schedule on a stand-in parameter, and the decode
settings; a bad size, argument or ``_target_`` fails here in one line naming the key, before any
download, SentencePiece training or run folder.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from nmt.allocator import check_malloc_mode, malloc_mode
from nmt.checkpoint import build_model
from nmt.errors import ConfigError, NmtError, is_count
from nmt.schedule import has_budget
from nmt.search import DecodeSettings
from nmt.subword_sampling import SubwordSampling
from nmt.vocab import BOS_ID, EOS_ID, PAD_ID, VocabSettings


def _check_accelerator(trainer_cfg: DictConfig) -> None:
    """A GPU trainer on a machine (or a torch build) without CUDA fails here, in one line."""
    if str(trainer_cfg.get("accelerator")) in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"trainer.accelerator={trainer_cfg.accelerator} but torch {torch.__version__} sees no CUDA device: "
            "use trainer=cpu, or install a CUDA build of torch (make setup TORCH=…)"
        )


def decode_settings(cfg: DictConfig, key: str) -> DecodeSettings:
    """``DecodeSettings`` of ``cfg[key]`` (decode, val_decode); a bad value is a ``ConfigError``."""
    try:
        return DecodeSettings(**OmegaConf.to_container(cfg[key], resolve=True))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{key}: {err}") from None


def _built(key: str, build: Callable[[], Any]) -> Any:
    """``build()``, with a bad value or argument under ``key`` turned into a one-line ``ConfigError``.

    Constructors validate their arguments with ``ValueError``/``TypeError``; Hydra wraps what it
    instantiates in ``InstantiationException``. Anything else is a bug and propagates unchanged.
    """
    try:
        return build()
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, NmtError | ValueError | TypeError):
            raise ConfigError(f"{key}: {cause}") from None
        if str(err).startswith("Error locating target"):
            raise ConfigError(f"{key}: {str(err).splitlines()[0]}") from None
        raise
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{key}: {err}") from None


def _check_model(cfg: DictConfig) -> None:
    """Build the model on the meta device with the configured vocabulary size, and its optimiser
    and schedule on a stand-in parameter: bad sizes, arguments or targets fail before any data work."""
    size = int(cfg.data.vocab.size)
    vocab = SimpleNamespace(
        src_size=size, tgt_size=size, pad_id=PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID, joint=bool(cfg.data.vocab.joint)
    )
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        _built("model.net", lambda: build_model(cfg.model, vocab))
    stand_in = [torch.nn.Parameter(torch.zeros(1))]
    optimizer = _built("model.optimizer", lambda: instantiate(cfg.model.optimizer)(stand_in))
    if cfg.model.get("scheduler"):
        _built("model.scheduler", lambda: instantiate(cfg.model.scheduler)(optimizer))
        cooldown = cfg.model.scheduler.get("cooldown") or 0
        if cooldown > 0 and not has_budget(OmegaConf.to_container(cfg.trainer, resolve=True)):
            raise ConfigError(
                f"model.scheduler.cooldown={cooldown} needs a training budget to cool down into: "
                "set trainer.max_time, trainer.max_steps or trainer.max_epochs (not -1)"
            )


def _check_data_settings(cfg: DictConfig) -> None:
    """Vocabulary settings and token budgets (the corpus itself is read later)."""
    VocabSettings.from_mapping(cfg.data.vocab)  # raises ConfigError naming the vocab.* key
    sampling = cfg.data.get("sampling")
    SubwordSampling.from_config(
        OmegaConf.to_container(sampling) if isinstance(sampling, DictConfig) else sampling, cfg.data.vocab.model_type
    )
    for key in ("max_tokens", "max_len", "eval_max_tokens"):
        value = cfg.data.get(key)
        if value is not None and not is_count(value):
            raise ConfigError(f"data.{key}={value} must be a positive whole number of tokens")


def check_config(cfg: DictConfig) -> DecodeSettings:
    """Everything that can be checked from the config alone, before any corpus is read.

    Returns the test-split decode settings.
    """
    _check_accelerator(cfg.trainer)
    ckpt = cfg.checkpoint
    average = ckpt.get("average", 0)
    if average > ckpt.keep_last:
        raise ConfigError(
            f"checkpoint.average={average} but checkpoint.keep_last={ckpt.keep_last}: "
            f"keep at least as many epoch checkpoints as you average (checkpoint.keep_last={average})"
        )
    for key in ("every_n_steps", "average_min_gap_steps"):
        if (ckpt.get(key) or 0) < 0:
            raise ConfigError(f"checkpoint.{key}={ckpt.get(key)} must be >= 0")
    _check_data_settings(cfg)
    check_malloc_mode(malloc_mode(cfg))
    test_decode = decode_settings(cfg, "decode")
    decode_settings(cfg, "val_decode")
    _check_model(cfg)
    return test_decode
