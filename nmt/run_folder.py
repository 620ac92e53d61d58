"""A training run's folder before training: the checks, the resolved config, the resume record."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from nmt.atomic import write_json_atomic, write_text_atomic
from nmt.errors import ConfigError
from nmt.resume import LAST, describe_resume, resume_command, resume_history


def check_run_folder(run_dir: Path, resume: bool) -> None:
    """A new run never mixes with an earlier one; a resumed one needs its last checkpoint.

    Raises:
        ConfigError: checkpoints, metrics.csv or results.json of another run are there (new run),
            or ``checkpoints/last.ckpt`` is missing (resume).
    """
    if resume:
        if not (run_dir / LAST).is_file():
            raise ConfigError(f"{run_dir / LAST}: missing, nothing to resume from; start a new run instead")
        return
    old = sorted((run_dir / "checkpoints").glob("*.ckpt"))
    if old:  # they would be mixed with this run's: the best, the average and results.json would lie
        raise ConfigError(
            f"{run_dir / 'checkpoints'}: holds {len(old)} checkpoint(s) of an earlier run; continue it with "
            f"`{resume_command(run_dir)}`, or train into a new folder (hydra.run.dir=…)"
        )
    for name in ("metrics.csv", "results.json"):
        if (run_dir / name).exists():
            raise ConfigError(f"{run_dir / name}: an earlier run wrote here; train into a new folder (hydra.run.dir=…)")


def prepare_run_folder(cfg: DictConfig, run_dir: Path, resume: bool, overrides: list[str], step: int) -> None:
    """Write the resolved config (and, on resume, the resume record); checks the folder is writable."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "hypotheses").mkdir(exist_ok=True)
    write_text_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    if resume:
        write_json_atomic(run_dir / "resumes.json", [*resume_history(run_dir), describe_resume(step, overrides)])


def checkpoint_step(path: Path) -> int:
    """The global step a Lightning checkpoint was written at (memory-mapped: nothing big is read).

    Raises:
        ConfigError: the file is not a readable checkpoint.
    """
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True, mmap=True)["global_step"])
    except Exception as err:  # torch raises many types for truncated files
        raise ConfigError(f"{path}: not a readable checkpoint ({type(err).__name__}); it cannot be resumed") from None


def last_step(run_dir: Path) -> int | None:
    """The step of the run's last.ckpt, or None when there is none."""
    return checkpoint_step(run_dir / LAST) if (run_dir / LAST).is_file() else None
