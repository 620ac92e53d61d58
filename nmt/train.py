"""``python -m nmt.train``: train a model, keep the best checkpoint by val BLEU, score the test split.

The run folder (Hydra's output dir) ends up holding: ``config.yaml`` (resolved), ``vocab/``,
``checkpoints/`` (best and last), ``metrics.csv``, ``hypotheses/test.txt`` and ``results.json``.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, Logger

from nmt.checkpoint import (
    CheckpointError,
    average_checkpoints,
    build_model,
    checkpoint_pool,
    load_weights,
    run_relative,
)
from nmt.corpora.base import CorpusError
from nmt.data import TranslationDataModule
from nmt.evaluate import score_hypotheses, write_json
from nmt.models.base import Seq2Seq
from nmt.module import Seq2SeqModule
from nmt.search import DecodeSettings

log = logging.getLogger(__name__)


def build_datamodule(cfg: DictConfig) -> TranslationDataModule:
    """The shared DataModule for ``cfg.data`` (corpus, SentencePiece, token-bucket batches)."""
    return TranslationDataModule(
        corpus=instantiate(cfg.data.corpus, _partial_=True),
        vocab=OmegaConf.to_container(cfg.data.vocab, resolve=True),
        cache_dir=str(Path(cfg.cache_dir).expanduser()),
        max_tokens=cfg.data.max_tokens,
        max_len=cfg.data.max_len,
        eval_max_tokens=cfg.data.get("eval_max_tokens"),
        num_workers=cfg.data.get("num_workers", 0),
        seed=cfg.seed,
    )


def _callbacks(cfg: DictConfig, run_dir: Path) -> tuple[ModelCheckpoint, list[pl.Callback]]:
    best = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best-epoch{epoch:03d}-step{step:06d}",
        auto_insert_metric_name=False,
        monitor=cfg.checkpoint.monitor,
        mode=cfg.checkpoint.mode,
        save_top_k=1,
    )
    # The most recent epochs, for checkpoint averaging (nmt.evaluate average=N); also writes last.ckpt.
    recent = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="epoch{epoch:03d}-step{step:06d}",
        auto_insert_metric_name=False,
        monitor="step",
        mode="max",
        save_top_k=cfg.checkpoint.keep_last,
        save_last=True,
    )
    callbacks: list[pl.Callback] = [best, recent, LearningRateMonitor(logging_interval="step")]
    if cfg.early_stopping.enabled:
        callbacks.append(
            EarlyStopping(
                monitor=cfg.checkpoint.monitor, mode=cfg.checkpoint.mode, patience=cfg.early_stopping.patience
            )
        )
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
    return best, callbacks


def _loggers(cfg: DictConfig, run_dir: Path) -> list[Logger]:
    loggers: list[Logger] = [CSVLogger(save_dir=run_dir, name="", version="")]
    if cfg.logger.tensorboard:
        from pytorch_lightning.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(save_dir=run_dir, name="tensorboard", version=""))
    return loggers


def _check_accelerator(trainer_cfg: DictConfig) -> None:
    """A GPU trainer on a machine (or a torch build) without CUDA fails here, in one line."""
    if str(trainer_cfg.get("accelerator")) in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"trainer.accelerator={trainer_cfg.accelerator} but torch {torch.__version__} sees no CUDA device: "
            "use trainer=cpu, or install a CUDA build of torch (make setup TORCH=…)"
        )


def _check_before_training(cfg: DictConfig, run_dir: Path) -> DecodeSettings:
    """Fail now, not after hours of training, on what can be checked up front."""
    _check_accelerator(cfg.trainer)
    average = cfg.checkpoint.get("average", 0)
    if average > cfg.checkpoint.keep_last:
        raise ValueError(
            f"checkpoint.average={average} but checkpoint.keep_last={cfg.checkpoint.keep_last}: "
            f"keep at least as many epoch checkpoints as you average (checkpoint.keep_last={average})"
        )
    test_decode = DecodeSettings(**OmegaConf.to_container(cfg.decode, resolve=True))
    old = sorted((run_dir / "checkpoints").glob("*.ckpt"))
    if old:  # they would be mixed with this run's: the best, the average and results.json would lie
        raise ValueError(
            f"{run_dir / 'checkpoints'}: holds {len(old)} checkpoint(s) of an earlier run; train into a new "
            "folder (hydra.run.dir=…) or move that run away"
        )
    (run_dir / "hypotheses").mkdir(parents=True, exist_ok=True)
    probe = run_dir / ".write-test"
    probe.write_text("ok")
    probe.unlink()
    return test_decode


def choose_test_weights(
    cfg: DictConfig, run_dir: Path, best_path: Path, best_bleu: float, model: Seq2Seq, dm: TranslationDataModule
) -> tuple[dict, dict]:
    """The weights to test: the best checkpoint, or the mean of the last ``checkpoint.average`` epoch
    checkpoints when that scores a higher val BLEU (same greedy decoding as during training).

    The choice is made on the validation split only; returns the weights and a record of the choice.
    """
    best = load_weights(best_path)
    score = round(best_bleu, 2) if best_bleu != float("-inf") else None
    choice = {"checkpoint": run_relative(best_path, run_dir), "val_bleu": score, "averaged": []}
    n = cfg.checkpoint.get("average", 0)
    pool = checkpoint_pool("best", run_dir)
    if n < 2 or len(pool) < n:
        if n >= 2:
            log.warning("checkpoint.average=%d: only %d epoch checkpoints written; testing the best one", n, len(pool))
        return best, choice
    model.load_state_dict(average_checkpoints(pool[-n:]))
    val_decode = DecodeSettings(**OmegaConf.to_container(cfg.val_decode, resolve=True))
    _, val = score_hypotheses(
        model, dm.dataloader("val", shard=False), dm.references("val"), dm.vocab.decode_tgt, val_decode
    )
    files = [run_relative(p, run_dir) for p in pool[-n:]]
    log.info("val BLEU: best checkpoint %.2f, average of the last %d %.2f", best_bleu, n, val["bleu"])
    if val["bleu"] > best_bleu:
        averaged = {"checkpoint": f"average of {n}", "val_bleu": val["bleu"], "averaged": files, "best": choice}
        return model.state_dict(), averaged
    choice["average_val_bleu"] = {"val_bleu": val["bleu"], "files": files}
    return best, choice


def _epochs_done(trainer: pl.Trainer) -> float | None:
    """Optimiser steps as a fraction of an epoch's batches, e.g. 14.01 when a time limit stopped training."""
    per_epoch = trainer.num_training_batches
    if not per_epoch or per_epoch == float("inf"):
        return None
    return round(trainer.global_step / per_epoch, 2)


def train(cfg: DictConfig, run_dir: str | Path) -> dict:
    """Train ``cfg.model`` on ``cfg.data``, test the best checkpoint, write the run folder.

    Returns the contents of ``results.json``.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(cfg.seed, workers=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    test_decode = _check_before_training(cfg, run_dir)
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)

    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    dm.vocab.save(run_dir / "vocab")
    model = build_model(cfg.model, dm.vocab)
    module = Seq2SeqModule(
        model,
        optimizer=instantiate(cfg.model.optimizer),
        scheduler=instantiate(cfg.model.scheduler) if cfg.model.get("scheduler") else None,
        label_smoothing=cfg.model.label_smoothing,
        val_decode=DecodeSettings(**OmegaConf.to_container(cfg.val_decode, resolve=True)),
        detokenize=dm.vocab.decode_tgt,
        val_references=dm.references("val"),
    )
    best_cb, callbacks = _callbacks(cfg, run_dir)
    trainer = pl.Trainer(
        **OmegaConf.to_container(cfg.trainer, resolve=True),
        default_root_dir=run_dir,
        callbacks=callbacks,
        logger=_loggers(cfg, run_dir),
        gradient_clip_val=cfg.model.get("grad_clip"),
        use_distributed_sampler=False,  # the token-bucket sampler shards by rank itself
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=dm)
    wall = time.perf_counter() - start
    if not trainer.is_global_zero:
        return {}

    best_path = Path(best_cb.best_model_path) if best_cb.best_model_path else run_dir / "checkpoints" / "last.ckpt"
    best_bleu = float(best_cb.best_model_score) if best_cb.best_model_score is not None else float("-inf")
    weights, tested = choose_test_weights(cfg, run_dir, best_path, best_bleu, model, dm)
    model.load_state_dict(weights)
    hyps, test = score_hypotheses(
        model, dm.dataloader("test", shard=False), dm.references("test"), dm.vocab.decode_tgt, test_decode
    )
    hyp_path = run_dir / "hypotheses" / "test.txt"
    hyp_path.write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    test["hypotheses"] = str(hyp_path.relative_to(run_dir))

    results = {
        "model": cfg.model.name,
        "data": cfg.data.name,
        "src_lang": cfg.data.src_lang,
        "tgt_lang": cfg.data.tgt_lang,
        "params": sum(p.numel() for p in model.parameters()),
        "train": {
            "wall_time_s": round(wall, 1),
            "steps": trainer.global_step,
            "epochs": trainer.current_epoch,  # epochs started (a time limit may stop one early)
            "epochs_done": _epochs_done(trainer),
            "target_tokens": module.train_tokens,
            "tokens_per_s": round(module.train_tokens / max(wall, 1e-9), 1),
        },
        "val": {"bleu": round(float(best_cb.best_model_score or 0.0), 2), "metric": cfg.checkpoint.monitor},
        "test": test,
        "best_checkpoint": run_relative(best_path, run_dir),
        "tested_weights": tested,
        "data_fingerprint": dm.ids_fingerprint(),
        "hardware": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "accelerator": str(trainer.accelerator.__class__.__name__),
        },
        "versions": {"torch": torch.__version__, "pytorch_lightning": pl.__version__},
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    write_json(run_dir / "results.json", results)
    print(
        f"test BLEU {test['bleu']:.2f} chrF {test['chrf']:.2f} ({cfg.model.name}, {cfg.data.name} "
        f"{cfg.data.src_lang}-{cfg.data.tgt_lang}, {tested['checkpoint']})\n  {test['signature']['bleu']}\n"
        f"  {test['signature']['chrf']}\n  results: {run_dir / 'results.json'}"
    )
    return results


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        train(cfg, HydraConfig.get().runtime.output_dir)
    except (CorpusError, CheckpointError, ValueError) as err:  # bad input or config: one line, no traceback
        raise SystemExit(f"nmt.train: error: {err}") from None


if __name__ == "__main__":
    main()
