"""``python -m nmt.train`` (or ``nmt-train``): train a model into a new run folder, or resume one.

A thin Hydra main over ``nmt.training.train`` (which documents the run folder it writes).
``resume=<run dir>`` continues a run in its own folder from ``checkpoints/last.ckpt`` (see
nmt/resume.py for what the command line may still change); Ctrl-C and SIGTERM stop after the
current batch with a resumable checkpoint and print the command that resumes.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from nmt.cli import CONF_DIR, prepare_argv
from nmt.errors import NmtError
from nmt.resume import LAST, hydra_subdir_for, resume_command, resume_config, resume_target, run_dir_for
from nmt.training import train

# hydra.run.dir and hydra.output_subdir in conf/train.yaml: a resumed run writes into its own folder.
OmegaConf.register_new_resolver("nmt_run_dir", run_dir_for, replace=True)
OmegaConf.register_new_resolver("nmt_hydra_subdir", hydra_subdir_for, replace=True)


def _one_line(err: BaseException) -> str | None:
    """The one-line message for the project's own errors (and Hydra's instantiation errors about a
    bad ``_target_`` or argument, or wrapping one of ours); None for anything else: a bug, which
    keeps its traceback."""
    if isinstance(err, NmtError):
        return str(err)
    if isinstance(err, InstantiationException):
        cause = err.__cause__
        if isinstance(cause, NmtError):
            return str(cause)
        text = str(err).splitlines()[0]
        if text.startswith("Error locating target") or "unexpected keyword argument" in str(err):
            return text
    return None


def _remove_unused_run_dir(run_dir: Path) -> None:
    """Remove a new run folder holding only what Hydra put there (nothing of a run to keep)."""
    if not run_dir.is_dir() or (run_dir / "config.yaml").exists():
        return
    if {p.name for p in run_dir.iterdir()} <= {".hydra", f"{HydraConfig.get().job.name}.log"}:
        shutil.rmtree(run_dir, ignore_errors=True)


@hydra.main(config_path=str(CONF_DIR), config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    output_dir = Path(hydra_cfg.runtime.output_dir)
    target = None
    try:
        target = resume_target(cfg, output_dir)
        if target is not None:
            overrides = list(hydra_cfg.overrides.task)
            results = train(resume_config(target, cfg, overrides), target, resume=True, overrides=overrides)
        else:
            results = train(cfg, output_dir)
    except KeyboardInterrupt:  # before training started (or a second Ctrl-C): nothing more to save
        last = (target or output_dir) / LAST
        hint = f"; resume with: {resume_command(target or output_dir)}" if last.is_file() else ""
        raise SystemExit(f"nmt.train: stopped by Ctrl-C{hint}") from None
    except Exception as err:
        message = _one_line(err)
        if message is None:
            raise  # a bug: keep the traceback (HYDRA_FULL_ERROR=1 shows Hydra's frames too)
        if target is None:
            _remove_unused_run_dir(output_dir)
        elif hydra_cfg.output_subdir and hydra_cfg.output_subdir.startswith(".hydra/resume-"):
            shutil.rmtree(output_dir / hydra_cfg.output_subdir, ignore_errors=True)  # this refused resume's copy
        raise SystemExit(f"nmt.train: error: {message}") from None
    if results.get("status") == "interrupted":
        sys.exit(130 if str(results.get("signal")).startswith("SIGINT") else 143)


def cli() -> None:
    """The ``nmt-train`` console script (and ``python -m nmt.train``)."""
    prepare_argv("nmt.train", "train")
    main()


if __name__ == "__main__":
    cli()
