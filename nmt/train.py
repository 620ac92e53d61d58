"""``python -m nmt.train``: train a model, keep the best checkpoint by val BLEU, score the test split.

The run folder (Hydra's output dir) ends up holding: ``config.yaml`` (resolved), ``vocab/``,
``checkpoints/`` (best, last and the averaging pool), ``metrics.csv``, ``hypotheses/test.txt`` and
``results.json`` (``status``: finished, interrupted or diverged).

``resume=<run dir>`` continues a run in its own folder from ``checkpoints/last.ckpt`` (see
nmt/resume.py for what the command line may still change); Ctrl-C and SIGTERM stop after the
current batch with a resumable checkpoint and print the command that resumes.
"""

from __future__ import annotations

import logging
import shutil
import signal
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.loggers import Logger
from pytorch_lightning.utilities.exceptions import SIGTERMException

from nmt.atomic import write_json_atomic, write_text_atomic
from nmt.checkpoint import (
    average_checkpoints,
    build_model,
    load_weights,
    run_relative,
    select_checkpoints,
)
from nmt.cli import prepare_argv
from nmt.config_checks import check_config, decode_settings
from nmt.data import TranslationDataModule, build_datamodule
from nmt.errors import ConfigError, NmtError
from nmt.evaluation import score_hypotheses
from nmt.models.base import Seq2Seq
from nmt.module import NonFiniteLossError, Seq2SeqModule
from nmt.quiet import LineProgress, on_terminal, quiet_lightning
from nmt.resume import (
    LAST,
    describe_resume,
    hydra_subdir_for,
    resume_command,
    resume_config,
    resume_history,
    resume_target,
    run_dir_for,
)
from nmt.run_results import run_record, stopped_results, train_record
from nmt.run_state import AppendingCSVLogger, AtomicCheckpointIO, LastCheckpoint, RngState, SpacedCheckpoint

log = logging.getLogger(__name__)

# hydra.run.dir and hydra.output_subdir in conf/train.yaml: a resumed run writes into its own folder.
OmegaConf.register_new_resolver("nmt_run_dir", run_dir_for, replace=True)
OmegaConf.register_new_resolver("nmt_hydra_subdir", hydra_subdir_for, replace=True)


def _ddp_precision(accelerator: str) -> str:
    """conf/trainer/ddp.yaml's precision: bf16 mixed precision on GPUs, full fp32 on CPUs."""
    gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    return "bf16-mixed" if gpu else "32-true"


OmegaConf.register_new_resolver("nmt_ddp_precision", _ddp_precision, replace=True)


class RunCallbacks(SimpleNamespace):
    """The callbacks ``train`` reads back after fitting (all of them are in ``all``)."""

    best: ModelCheckpoint
    pool: SpacedCheckpoint
    last: LastCheckpoint
    all: list[pl.Callback]


def _callbacks(cfg: DictConfig, run_dir: Path) -> RunCallbacks:
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
    callbacks: list[pl.Callback] = [LearningRateMonitor(logging_interval="step"), RngState()]
    if cfg.early_stopping.enabled:
        callbacks.append(EarlyStopping(monitor=ckpt.monitor, mode=ckpt.mode, patience=cfg.early_stopping.patience))
    heatmaps = cfg.get("heatmaps")
    if heatmaps is not None and heatmaps.enabled:
        from nmt.callbacks import AttentionHeatmaps  # imported only when used: it pulls in matplotlib

        callbacks.append(
            AttentionHeatmaps(
                sentences=heatmaps.sentences,
                every_n_validations=heatmaps.every_n_validations,
                formats=tuple(heatmaps.formats),
                dirpath=run_dir,
            )
        )
    # last.ckpt after best and pool: its copy of their state includes this validation's update.
    return RunCallbacks(best=best, pool=pool, last=last, all=[*callbacks, best, pool, last])


def _loggers(cfg: DictConfig, run_dir: Path, resume_step: int | None) -> list[Logger]:
    loggers: list[Logger] = [AppendingCSVLogger(run_dir, resume_step=resume_step)]
    if cfg.logger.tensorboard:
        from pytorch_lightning.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(save_dir=run_dir, name="tensorboard", version=""))
    return loggers


def _check_run_folder(run_dir: Path, resume: bool) -> None:
    """A new run never mixes with an earlier one; a resumed one needs its last checkpoint."""
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


def _make_trainer(cfg: DictConfig, run_dir: Path, cbs: RunCallbacks, resume_step: int | None) -> pl.Trainer:
    """The Trainer (built before any data work, so that bad trainer.* settings fail first)."""
    quiet_lightning()
    trainer_args = OmegaConf.to_container(cfg.trainer, resolve=True)
    progress = [LineProgress()] if trainer_args.get("enable_progress_bar", True) and not on_terminal() else []
    try:
        return pl.Trainer(
            **trainer_args,
            deterministic=bool(cfg.get("deterministic", False)),
            default_root_dir=run_dir,
            callbacks=[*cbs.all, *progress],
            logger=_loggers(cfg, run_dir, resume_step),
            plugins=[AtomicCheckpointIO()],
            gradient_clip_val=cfg.model.get("grad_clip"),
            use_distributed_sampler=False,  # the token-bucket sampler shards by rank itself
        )
    except (TypeError, ValueError) as err:  # Lightning's MisconfigurationException is a ValueError
        raise ConfigError(f"trainer: {str(err).splitlines()[0]}") from None


def _checkpoint_step(path: Path) -> int:
    """The global step a Lightning checkpoint was written at (memory-mapped: nothing big is read)."""
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True, mmap=True)["global_step"])
    except Exception as err:  # torch raises many types for truncated files
        raise ConfigError(f"{path}: not a readable checkpoint ({type(err).__name__}); it cannot be resumed") from None


def choose_test_weights(
    cfg: DictConfig, run_dir: Path, best_path: Path, best_bleu: float, model: Seq2Seq, dm: TranslationDataModule
) -> tuple[dict, dict]:
    """The weights to test: the best checkpoint, or the mean of the last ``checkpoint.average``
    checkpoints of the pool when that scores a higher val BLEU (same greedy decoding as during training).

    The choice is made on the validation split only; returns the weights and a record of the choice
    (with the files and training steps that were averaged).
    """
    best = load_weights(best_path)
    score = round(best_bleu, 2) if best_bleu != float("-inf") else None
    choice = {"checkpoint": run_relative(best_path, run_dir), "val_bleu": score, "averaged": []}
    n = cfg.checkpoint.get("average", 0)
    if n < 2:
        return best, choice
    try:
        pool = select_checkpoints("best", run_dir, n)
    except NmtError as err:
        log.warning("checkpoint.average=%d: %s; testing the best checkpoint", n, err)
        return best, choice
    model.load_state_dict(average_checkpoints(pool))
    val_decode = decode_settings(cfg, "val_decode")
    _, val = score_hypotheses(
        model, dm.dataloader("val", shard=False), dm.references("val"), dm.vocab.decode_tgt, val_decode
    )
    files = [run_relative(p, run_dir) for p in pool]
    steps = [_checkpoint_step(p) for p in pool]
    log.info("val BLEU: best checkpoint %.2f, average of the last %d %.2f", best_bleu, n, val["bleu"])
    if val["bleu"] > best_bleu:
        averaged = {
            "checkpoint": f"average of {n}",
            "val_bleu": val["bleu"],
            "averaged": files,
            "averaged_steps": steps,
            "best": choice,
        }
        return model.state_dict(), averaged
    choice["average_val_bleu"] = {"val_bleu": val["bleu"], "files": files, "steps": steps}
    return best, choice


def _prepare_run_folder(cfg: DictConfig, run_dir: Path, resume: bool, overrides: list[str], step: int) -> None:
    """Write the resolved config (and, on resume, the resume record); checks the folder is writable."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "hypotheses").mkdir(exist_ok=True)
    write_text_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    if resume:
        write_json_atomic(run_dir / "resumes.json", [*resume_history(run_dir), describe_resume(step, overrides)])


def _build_module(cfg: DictConfig, dm: TranslationDataModule) -> tuple[Seq2Seq, Seq2SeqModule]:
    model = build_model(cfg.model, dm.vocab)
    module = Seq2SeqModule(
        model,
        optimizer=instantiate(cfg.model.optimizer),
        scheduler=instantiate(cfg.model.scheduler) if cfg.model.get("scheduler") else None,
        label_smoothing=cfg.model.label_smoothing,
        val_decode=decode_settings(cfg, "val_decode"),
        detokenize=dm.vocab.decode_tgt,
        val_references=dm.references("val"),
        skip_nonfinite=bool(cfg.get("train", {}).get("skip_nonfinite", False)),
    )
    return model, module


def _fit(trainer: pl.Trainer, module: Seq2SeqModule, dm: TranslationDataModule, ckpt: Path | None, cbs) -> str:
    """Run ``trainer.fit``; returns the status: finished, or interrupted (SIGINT/SIGTERM)."""
    try:
        trainer.fit(module, datamodule=dm, ckpt_path=ckpt)
    except SIGTERMException:
        return "interrupted"
    except (SystemExit, KeyboardInterrupt) as err:  # Lightning exits(1) on a KeyboardInterrupt
        ctrl_c = isinstance(err, KeyboardInterrupt) or (err.code == 1 and trainer.interrupted)
        if not ctrl_c:
            raise
        # A second Ctrl-C, or one before training started (the sanity check): stopped at once.
        cbs.last.signal = "SIGINT (twice: stopped at once)" if cbs.last.signal == "SIGINT" else "SIGINT"
        return "interrupted"
    return "finished"


def _last_step(run_dir: Path) -> int | None:
    """The step of the run's last.ckpt, or None when there is none."""
    return _checkpoint_step(run_dir / LAST) if (run_dir / LAST).is_file() else None


def _report_interrupt(cfg, run_dir: Path, trainer: pl.Trainer, module: Seq2SeqModule, cbs) -> dict:
    """results.json (status interrupted) and the lines that tell the user how to go on."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a further Ctrl-C must not cut this short
    step = _last_step(run_dir)
    results = stopped_results(cfg, run_dir, "interrupted", trainer, module, cbs.best, step, signal=cbs.last.signal)
    if step is None:
        where = "no checkpoint was written yet: start again"
    elif step == trainer.global_step:
        where = f"saved {LAST} at step {step}"
    else:
        where = f"{LAST} is from step {step} (the steps after it are trained again on resume)"
    print(
        f"\ninterrupted ({cbs.last.signal or 'signal'}) at step {trainer.global_step}: {where}; "
        f"results: {run_dir / 'results.json'}" + (f"\n  resume with: {results['resume_command']}" if step else ""),
        flush=True,
    )
    return results


def train(cfg: DictConfig, run_dir: str | Path, resume: bool = False, overrides: list[str] | None = None) -> dict:
    """Train ``cfg.model`` on ``cfg.data``, test the best checkpoint, write the run folder.

    Args:
        cfg: the ``conf/train.yaml`` config (for a resume: the run's own, see ``resume_config``).
        run_dir: the run folder.
        resume: continue the run of ``run_dir`` from its ``checkpoints/last.ckpt``.
        overrides: the command line's overrides (recorded in ``resumes.json`` on resume).

    Returns the contents of ``results.json``; its ``status`` is ``finished``, or ``interrupted``
    (SIGINT/SIGTERM: a resumable checkpoint was saved, nothing was tested). A non-finite loss
    raises ``NonFiniteLossError`` after writing ``results.json`` with status ``diverged``.
    """
    run_dir = Path(run_dir).absolute()
    test_decode = check_config(cfg)
    _check_run_folder(run_dir, resume)
    ckpt = run_dir / LAST if resume else None
    resume_step = _checkpoint_step(ckpt) if ckpt is not None else None
    pl.seed_everything(cfg.seed, workers=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    cbs = _callbacks(cfg, run_dir)
    trainer = _make_trainer(cfg, run_dir, cbs, resume_step)
    if trainer.is_global_zero:  # under DDP only rank 0 writes the run folder
        _prepare_run_folder(cfg, run_dir, resume, list(overrides or []), resume_step or 0)

    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    if trainer.is_global_zero and not (run_dir / "vocab").is_dir():
        dm.vocab.save(run_dir / "vocab")
    model, module = _build_module(cfg, dm)
    try:
        status = _fit(trainer, module, dm, ckpt, cbs)
    except NonFiniteLossError as err:
        if trainer.is_global_zero:
            stopped_results(cfg, run_dir, "diverged", trainer, module, cbs.best, _last_step(run_dir))
        step = _last_step(run_dir)
        good = f"{run_dir / LAST} (step {step})" if step is not None else "none (no checkpoint was written yet)"
        raise NonFiniteLossError(
            f"{err}; training stopped, the last good checkpoint is {good}; lower model.optimizer.lr or "
            "model.grad_clip in a new run, or resume with train.skip_nonfinite=true to skip such batches",
            err.step,
        ) from None
    if not trainer.is_global_zero:
        return {}
    if status == "interrupted":
        return _report_interrupt(cfg, run_dir, trainer, module, cbs)
    return _test_and_report(cfg, run_dir, trainer, module, model, dm, cbs, test_decode)


def _test_and_report(cfg, run_dir, trainer, module, model, dm, cbs: RunCallbacks, test_decode) -> dict:
    """Score the test split with the chosen weights and write hypotheses and results.json."""
    best_cb = cbs.best
    best_path = Path(best_cb.best_model_path) if best_cb.best_model_path else run_dir / LAST
    best_bleu = float(best_cb.best_model_score) if best_cb.best_model_score is not None else float("-inf")
    weights, tested = choose_test_weights(cfg, run_dir, best_path, best_bleu, model, dm)
    model.load_state_dict(weights)
    hyps, test = score_hypotheses(
        model, dm.dataloader("test", shard=False), dm.references("test"), dm.vocab.decode_tgt, test_decode
    )
    hyp_path = run_dir / "hypotheses" / "test.txt"
    write_text_atomic(hyp_path, "".join(h + "\n" for h in hyps))
    test["hypotheses"] = str(hyp_path.relative_to(run_dir))

    results = {
        **run_record(cfg, run_dir, "finished", trainer, module),
        "train": train_record(trainer, module, cbs.last.saved_step),
        "val": {"bleu": round(float(best_cb.best_model_score or 0.0), 2), "metric": cfg.checkpoint.monitor},
        "test": test,
        "best_checkpoint": run_relative(best_path, run_dir),
        "tested_weights": tested,
        "data_fingerprint": dm.ids_fingerprint(),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    write_json_atomic(run_dir / "results.json", results)
    print(
        f"test BLEU {test['bleu']:.2f} chrF {test['chrf']:.2f} ({cfg.model.name}, {cfg.data.name} "
        f"{cfg.data.src_lang}-{cfg.data.tgt_lang}, {tested['checkpoint']})\n  {test['signature']['bleu']}\n"
        f"  {test['signature']['chrf']}\n  results: {run_dir / 'results.json'}"
    )
    return results


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


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
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


if __name__ == "__main__":
    prepare_argv("nmt.train", "train")
    main()
