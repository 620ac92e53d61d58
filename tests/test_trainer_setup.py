"""Callbacks and loggers from conf/callbacks/ and conf/logger/, which of them a resumed run folder
may name, and Seq2SeqModule.load_from_checkpoint on a run's own checkpoint."""

from __future__ import annotations

import pytest
import torch
import yaml
from conftest import compose_train
from omegaconf import OmegaConf
from pytorch_lightning.callbacks import EarlyStopping, LearningRateMonitor
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.strategies import DDPStrategy

from nmt.batch import Batch
from nmt.callbacks import AttentionHeatmaps
from nmt.checkpoint import find_checkpoint, load_run
from nmt.errors import CheckpointError, ConfigError
from nmt.module import Seq2SeqModule
from nmt.resume import resume_config
from nmt.run_state import AppendingCSVLogger, RngState
from nmt.safe_load import load_run_config, read_checkpoint
from nmt.schedule import BudgetClock
from nmt.search import DecodeSettings, decode
from nmt.trainer_setup import RunCallbacks, build_callbacks, build_loggers, make_trainer, trainer_arguments


def _types(overrides, tmp_path) -> list[type]:
    cbs = build_callbacks(compose_train(overrides), tmp_path)
    assert cbs.all[-4:] == [cbs.all[-4], cbs.best, cbs.pool, cbs.last]  # last.ckpt after best and pool
    return [type(c) for c in cbs.all[:-3]]


def test_callbacks_come_from_the_config_and_the_checkpoints_are_always_there(tmp_path):
    assert _types([], tmp_path) == [LearningRateMonitor, AttentionHeatmaps, BudgetClock, RngState]
    assert _types(["callbacks=none"], tmp_path) == [BudgetClock, RngState]
    assert _types(["callbacks=[default,early_stopping]", "callbacks.heatmaps=null"], tmp_path) == [
        LearningRateMonitor,
        EarlyStopping,
        BudgetClock,
        RngState,
    ]
    stop = build_callbacks(compose_train(["callbacks=[early_stopping]", "checkpoint.monitor=val/loss",
                                          "checkpoint.mode=min"]), tmp_path).all[0]  # fmt: skip
    assert (stop.monitor, stop.mode, stop.patience) == ("val/loss", "min", 5)


def test_a_bad_callback_is_one_line_naming_its_key(tmp_path):
    with pytest.raises(ConfigError, match=r"^callbacks.heatmaps: .*must be >= 1"):
        build_callbacks(compose_train(["callbacks.heatmaps.sentences=0"]), tmp_path)
    cfg = compose_train([])
    cfg.callbacks.lr_monitor = True
    with pytest.raises(ConfigError, match=r"^callbacks.lr_monitor: True is not a _target_ entry"):
        build_callbacks(cfg, tmp_path)


def test_loggers_write_into_the_run_folder_and_metrics_csv_is_required(tmp_path):
    cfg = compose_train(["+logger.plain._target_=pytorch_lightning.loggers.CSVLogger", "+logger.plain.name=plain"])
    csv, plain = build_loggers(cfg, tmp_path, resume_step=12)
    assert isinstance(csv, AppendingCSVLogger) and csv.resume_step == 12 and csv.save_dir == str(tmp_path)
    assert type(plain) is CSVLogger and plain.save_dir == str(tmp_path) and plain.name == "plain"
    with pytest.raises(ConfigError, match=r"^logger: no csv entry; .*logger=\[csv,tensorboard\]"):
        build_loggers(compose_train(["logger=[]"]), tmp_path, None)


def test_a_logger_whose_package_is_missing_is_one_line(tmp_path):
    try:
        import mlflow  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"^logger.mlflow: .*mlflow"):
            build_loggers(compose_train(["logger=[csv,mlflow]"]), tmp_path, None)
    else:
        pytest.skip("mlflow is installed")


DDP_CPU = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]


def test_trainer_ddp_builds_lightnings_ddp_with_the_gradients_as_bucket_views(tmp_path):
    cfg = compose_train(DDP_CPU)
    trainer = make_trainer(cfg, tmp_path, build_callbacks(cfg, tmp_path), None)
    assert type(trainer.strategy) is DDPStrategy and trainer.num_devices == 2
    assert trainer.strategy._ddp_kwargs == {"gradient_as_bucket_view": True}
    off = trainer_arguments(compose_train([*DDP_CPU, "trainer.strategy.gradient_as_bucket_view=false"]).trainer)
    assert off["strategy"]._ddp_kwargs == {"gradient_as_bucket_view": False}
    named = trainer_arguments(compose_train([*DDP_CPU, "trainer.strategy=ddp_spawn"]).trainer)
    assert named["strategy"] == "ddp_spawn"  # a name of Lightning's replaces the entry
    assert "strategy" not in trainer_arguments(compose_train([]).trainer)  # one process: Lightning's own choice


def test_a_bad_strategy_entry_is_one_line_naming_trainer_strategy(tmp_path):
    cfg = compose_train(DDP_CPU)
    cfg.trainer.strategy = {"gradient_as_bucket_view": True}
    with pytest.raises(ConfigError, match=r"^trainer.strategy: .*has no _target_; give a name"):
        trainer_arguments(cfg.trainer)
    with pytest.raises(ConfigError, match=r"^trainer.strategy: bucket_size is an option of neither"):
        trainer_arguments(compose_train([*DDP_CPU, "+trainer.strategy.bucket_size=3"]).trainer)
    cfg.trainer.strategy = {"_target_": "pytorch_lightning.strategies.NoSuchStrategy"}
    with pytest.raises(ConfigError, match=r"^trainer.strategy: "):
        make_trainer(cfg, tmp_path, RunCallbacks(all=[]), None)


def test_a_ddp_run_folder_opens_and_resumes_but_not_one_naming_another_strategy_target(tmp_path):
    cfg = compose_train(DDP_CPU)
    run_dir = _run_folder(tmp_path / "a", cfg)
    resumed = resume_config(run_dir, compose_train([]), [])
    assert resumed.trainer.strategy._target_ == "pytorch_lightning.strategies.DDPStrategy"
    assert load_run_config(run_dir / "config.yaml")["trainer"]["strategy"]["gradient_as_bucket_view"] is True
    cfg.trainer.strategy._target_ = "os.system"
    run_dir = _run_folder(tmp_path / "b", cfg)
    with pytest.raises(CheckpointError, match=r"trainer.strategy._target_ names 'os.system'"):
        resume_config(run_dir, compose_train([]), [])
    with pytest.raises(CheckpointError, match=r"trainer.strategy._target_ names 'os.system'"):
        load_run_config(run_dir / "config.yaml")


def _run_folder(tmp_path, cfg) -> object:
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").touch()
    OmegaConf.save(cfg, run_dir / "config.yaml")
    return run_dir


def test_resuming_instantiates_only_allowed_callbacks_and_loggers(tmp_path):
    cfg = compose_train(["logger=[csv,mlflow]"])
    run_dir = _run_folder(tmp_path, cfg)
    with pytest.raises(CheckpointError, match=r"logger.mlflow._target_ names 'pytorch_lightning.loggers.MLFlowLogger'"):
        resume_config(run_dir, compose_train([]), [])
    ok = resume_config(run_dir, compose_train(["logger=[csv]"]), ["logger=[csv]"])  # given again: trusted
    assert list(ok.logger) == ["csv"]
    cfg = compose_train([])
    cfg.callbacks.heatmaps._target_ = "os.system"
    with pytest.raises(CheckpointError, match=r"callbacks.heatmaps._target_ names 'os.system'"):
        resume_config(_run_folder(tmp_path / "b", cfg), compose_train([]), [])
    cfg = compose_train(["+logger.csv.save_dir=/somewhere/else"])
    with pytest.raises(CheckpointError, match=r"logger.csv sets where it writes"):
        resume_config(_run_folder(tmp_path / "c", cfg), compose_train([]), [])


def test_a_run_from_before_the_groups_resumes_with_the_default_ones(tmp_path):
    cfg = OmegaConf.to_container(compose_train([]))
    cfg["logger"], cfg["heatmaps"] = {"tensorboard": False}, {"enabled": True}
    del cfg["callbacks"]
    run_dir = _run_folder(tmp_path, OmegaConf.create(cfg))
    resumed = resume_config(run_dir, compose_train([]), [])
    assert list(resumed.logger) == ["csv"] and list(resumed.callbacks) == ["lr_monitor", "heatmaps"]


def test_readers_of_a_run_ignore_its_loggers(tmp_path):
    """A run logged to MLflow still opens for evaluate/translate: loggers are never built from it."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(OmegaConf.to_container(compose_train(["logger=[csv,mlflow]"]), resolve=False)))
    assert "logger" not in load_run_config(path) and "callbacks" not in load_run_config(path)


@pytest.mark.slow
def test_load_from_checkpoint_translates_as_nmts_own_loader(transformer_run):
    path = find_checkpoint(transformer_run, "best")
    assert read_checkpoint(path)["hyper_parameters"]["model"]["_target_"] == "nmt.models.transformer.Transformer"
    module = Seq2SeqModule.load_from_checkpoint(path, map_location="cpu").eval()
    run = load_run(transformer_run)
    v = run.vocab
    ids = v.encode_src(["alpha beta gamma delta", "kappa mu nu xi omicron"])
    batch = Batch.from_ids(ids, None, range(len(ids)), v.pad_id, v.bos_id, v.eos_id)
    settings = DecodeSettings(strategy="beam", beam_size=3)
    with torch.no_grad():
        ours = [h[0].tokens for h in decode(run.model, batch.src, batch.src_mask, settings)]
        theirs = [h[0].tokens for h in decode(module.model, batch.src, batch.src_mask, settings)]
    assert ours == theirs and all(ours)
    assert module.label_smoothing == run.config.model.label_smoothing
