"""Continuing a run in its own folder: which folder, which config, which overrides are allowed.

``python -m nmt.train resume=<run dir>`` (or ``resume=true hydra.run.dir=<run dir>``) takes the
run's own ``config.yaml``; the command line may change only what cannot alter what was trained
(``SAFE_KEYS``: a longer time or epoch budget, threads, the allocator's settings, the progress bar,
loggers, skipping non-finite batches). Anything else is refused in one line naming the key. The run's
config is untrusted input: every ``_target_`` training would call from it must be allowed
(``nmt.safe_load``).
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Sequence
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from nmt.errors import CheckpointError, ConfigError
from nmt.safe_load import ALLOWED_TARGETS, RUN_CALLBACK_TARGETS, TRAINING_ONLY, refuse_unknown_targets

LAST = Path("checkpoints") / "last.ckpt"
SAFE_KEYS = (
    "trainer.max_time",
    "trainer.max_epochs",
    "trainer.enable_progress_bar",
    "threads",
    "train.malloc",  # how glibc keeps freed memory (nmt.allocator): speed and memory, not arithmetic
    "logger",
    "train.skip_nonfinite",
)


def _is_safe(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in SAFE_KEYS)


def run_dir_for(resume: object, default: str) -> str:
    """Hydra's run folder: the folder named by ``resume=<dir>``, else ``default`` (a new folder).

    Registered as the ``nmt_run_dir`` resolver of ``hydra.run.dir`` (conf/train.yaml), so that a
    resumed run writes into its own folder and no empty new one is made.
    """
    if isinstance(resume, str) and resume.strip().lower() not in ("", "true", "false", "null", "none"):
        return str(Path(resume).expanduser())
    return default


_STARTED = time.strftime("%Y-%m-%d_%H-%M-%S")  # one name per process: the resolver runs at every access


def hydra_subdir_for(resume: object) -> str:
    """Where Hydra saves its own copy of the config: a new ``.hydra/resume-<time>`` per resume,
    so resuming never overwrites the original run's ``.hydra`` files."""
    if resume is None or resume is False or str(resume).strip().lower() in ("", "false", "null", "none"):
        return ".hydra"
    return f".hydra/resume-{_STARTED}"


def resume_target(cfg: DictConfig, output_dir: str | Path) -> Path | None:
    """The run folder to continue, or None for a new run (``resume`` null/false)."""
    resume = cfg.get("resume")
    if resume is None or resume is False:
        return None
    if resume is True:
        return Path(output_dir)
    return Path(run_dir_for(resume, str(output_dir)))


def resume_command(run_dir: str | Path) -> str:
    """The exact command that continues ``run_dir`` (relative to the working directory when inside it)."""
    path = Path(run_dir).resolve()
    try:
        shown = str(path.relative_to(Path.cwd()))
    except ValueError:
        shown = str(path)
    return f"python -m nmt.train resume={shlex.quote(shown)}"


def changed_keys(overrides: Sequence[str]) -> list[str]:
    """The config keys (or groups) a list of command-line overrides touches, ``resume`` excluded."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    return [o.key_or_group for o in parsed if o.key_or_group != "resume"]


def resume_config(run_dir: Path, cfg: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """The run's own config, with the safe overrides of this command line applied.

    Args:
        run_dir: the folder being resumed (must hold config.yaml and checkpoints/last.ckpt).
        cfg: the config Hydra composed for this command (holds the overridden values).
        overrides: this command line's overrides (``HydraConfig.get().overrides.task``).

    Raises:
        ConfigError: no such run, nothing to resume from, an unsafe override, or a finished run
            given no larger budget.
    """
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise ConfigError(f"resume={run_dir}: no config.yaml there; name a run folder written by nmt.train")
    if not (run_dir / LAST).is_file():
        raise ConfigError(
            f"resume={run_dir}: no {LAST} (the run stopped before its first checkpoint); start a new run instead"
        )
    keys = changed_keys(overrides)
    for key in keys:
        if not _is_safe(key):
            raise ConfigError(
                f"resume: {key} cannot change when resuming (the run's config.yaml is used); only "
                f"{', '.join(SAFE_KEYS)} may be given — train into a new folder to change {key}"
            )
    run_cfg = OmegaConf.load(cfg_path)
    for group in ("callbacks", "logger"):  # a run from before conf/callbacks/ and conf/logger/
        if not _is_target_group(run_cfg.get(group)):
            run_cfg[group] = cfg.get(group)
    _refuse_unknown_targets(run_cfg, keys, cfg_path)
    for key in keys:
        value = OmegaConf.select(cfg, key, default=None)
        OmegaConf.update(run_cfg, key, OmegaConf.to_object(value) if OmegaConf.is_config(value) else value, merge=False)
    run_cfg.resume = None
    if not keys and _finished(run_dir):
        raise ConfigError(
            f"resume={run_dir}: the run has finished (results.json status finished); pass a larger "
            "trainer.max_epochs=… or trainer.max_time=… to train it further"
        )
    return run_cfg


def _is_target_group(node: object) -> bool:
    """Whether ``node`` is a mapping of ``_target_`` entries (or nulls), as conf/callbacks/ and conf/logger/ make."""
    return OmegaConf.is_dict(node) and all(v is None or OmegaConf.is_dict(v) and "_target_" in v for v in node.values())


def _refuse_unknown_targets(run_cfg: DictConfig, keys: Sequence[str], where: Path) -> None:
    """The run's own config is untrusted: training instantiates its model, data, optimiser,
    scheduler, callbacks and loggers, so each must name an allowed target (what this command line
    replaces is not the run's and is left out of the check)."""
    plain = OmegaConf.to_container(run_cfg, resolve=False)
    for key in keys:
        *parents, leaf = key.split(".")
        node = plain
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    run_parts = {k: v for k, v in plain.items() if k not in TRAINING_ONLY}
    refuse_unknown_targets(run_parts, str(where))
    for group in TRAINING_ONLY:
        for name, entry in (plain.get(group) or {}).items():
            refuse_unknown_targets(entry, str(where), f"{group}.{name}", ALLOWED_TARGETS | RUN_CALLBACK_TARGETS)
            if isinstance(entry, dict) and {"save_dir", "dirpath"} & set(entry):
                raise CheckpointError(
                    f"{where}: {group}.{name} sets where it writes, which resuming a run folder does not allow; "
                    f"give it again on the command line ({group}=[…]) or remove that key by hand"
                )


def _finished(run_dir: Path) -> bool:
    try:
        results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return results.get("status", "finished") == "finished"


def resume_history(run_dir: Path) -> list[dict]:
    """Earlier resumes of this run, as recorded in its ``resumes.json`` (empty for a fresh run)."""
    try:
        return list(json.loads((run_dir / "resumes.json").read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return []


def describe_resume(step: int, overrides: Sequence[str]) -> dict:
    """One entry of ``resumes.json``: when, from which step, with which overrides."""
    return {
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "from_step": step,
        "checkpoint": str(LAST),
        "overrides": [o for o in overrides if not o.startswith("resume=")],
    }
