"""Training a model into a run folder: the library behind ``python -m nmt.train``.

``train(cfg, run_dir)`` trains ``cfg.model`` on ``cfg.data``, keeps the best checkpoint by val BLEU,
scores the test split and leaves in the run folder: ``config.yaml`` (resolved), ``vocab/``,
``checkpoints/`` (best, last and the averaging pool), ``metrics.csv``, ``hypotheses/test.txt`` and
``results.json`` (``status``: finished, interrupted or diverged). With ``resume=True`` it continues
the run from ``checkpoints/last.ckpt`` (see nmt/resume.py for the config it takes). The Trainer,
its callbacks and loggers are built in nmt/trainer_setup.py; the folder's checks in nmt/run_folder.py.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities.exceptions import SIGTERMException

from nmt.allocator import configure_malloc, malloc_mode
from nmt.api import Translator
from nmt.atomic import write_json_atomic, write_text_atomic
from nmt.checkpoint import average_checkpoints, load_weights, model_config, run_relative, select_checkpoints
from nmt.config_checks import check_config, decode_settings
from nmt.data import TranslationDataModule, build_datamodule
from nmt.decoding import Scored
from nmt.errors import NmtError
from nmt.models.base import Seq2Seq
from nmt.module import NonFiniteLossError, Seq2SeqModule
from nmt.resume import LAST
from nmt.run_folder import check_run_folder, checkpoint_step, last_step, prepare_run_folder
from nmt.run_results import log_test_scores, run_record, stopped_results, train_record
from nmt.trainer_setup import RunCallbacks, build_callbacks, make_trainer

log = logging.getLogger(__name__)


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
    val = score_split(cfg, model, dm, "val", decode_settings(cfg, "val_decode")).scores
    files = [run_relative(p, run_dir) for p in pool]
    steps = [checkpoint_step(p) for p in pool]
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


def score_split(cfg: DictConfig, model: Seq2Seq, dm: TranslationDataModule, split: str, settings) -> Scored:
    """Decode and score a split as ``nmt.evaluate`` does (``nmt.decoding.decode_and_score``): one path, one output."""
    translator = Translator(model, dm.vocab, int(cfg.data.max_len), config=cfg)
    return translator.score(dm.sources(split), dm.references(split), settings, dm.eval_budget)


def build_module(
    cfg: DictConfig, dm: TranslationDataModule, model: Seq2Seq | None = None
) -> tuple[Seq2Seq, Seq2SeqModule]:
    """The model and its LightningModule, given as configs: their checkpoints rebuild them
    (``Seq2SeqModule.load_from_checkpoint(path)``). ``nmt.bench`` passes a ``model`` it built (and
    perhaps compiled) itself; everything else still comes from ``cfg``, as for training."""
    scheduler = cfg.model.get("scheduler")
    module = Seq2SeqModule(
        model if model is not None else model_config(cfg.model, dm.vocab),
        optimizer=OmegaConf.to_container(cfg.model.optimizer, resolve=True),
        scheduler=OmegaConf.to_container(scheduler, resolve=True) if scheduler else None,
        label_smoothing=cfg.model.label_smoothing,
        val_decode=decode_settings(cfg, "val_decode"),
        detokenize=dm.vocab.decode_tgt,
        val_references=dm.references("val"),
        skip_nonfinite=bool(cfg.get("train", {}).get("skip_nonfinite", False)),
        compile_loss=bool(cfg.get("train", {}).get("compile_loss", False)),
        compile_model=bool(cfg.get("train", {}).get("compile_model", False)),
    )
    return module.model, module


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


def _report_interrupt(cfg, run_dir: Path, trainer: pl.Trainer, module: Seq2SeqModule, cbs) -> dict:
    """results.json (status interrupted) and the lines that tell the user how to go on."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a further Ctrl-C must not cut this short
    step = last_step(run_dir)
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
    check_run_folder(run_dir, resume)
    ckpt = run_dir / LAST if resume else None
    resume_step = checkpoint_step(ckpt) if ckpt is not None else None
    pl.seed_everything(cfg.seed, workers=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    configure_malloc(malloc_mode(cfg))
    cbs = build_callbacks(cfg, run_dir)
    trainer = make_trainer(cfg, run_dir, cbs, resume_step)
    if trainer.is_global_zero:  # under DDP only rank 0 writes the run folder
        prepare_run_folder(cfg, run_dir, resume, list(overrides or []), resume_step or 0)

    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    if trainer.is_global_zero and not (run_dir / "vocab").is_dir():
        dm.vocab.save(run_dir / "vocab")
    model, module = build_module(cfg, dm)
    try:
        status = _fit(trainer, module, dm, ckpt, cbs)
    except NonFiniteLossError as err:
        if trainer.is_global_zero:
            stopped_results(cfg, run_dir, "diverged", trainer, module, cbs.best, last_step(run_dir))
        step = last_step(run_dir)
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
    scored = score_split(cfg, model, dm, "test", test_decode)
    test = scored.scores
    log_test_scores(trainer, test)
    hyp_path = run_dir / "hypotheses" / "test.txt"
    write_text_atomic(hyp_path, "".join(h + "\n" for h in scored.texts))
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
