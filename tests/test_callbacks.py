"""AttentionHeatmaps: files per validation, sanity check skipped, train mode kept, never crashes training."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from pytorch_lightning.loggers import TensorBoardLogger

import nmt.callbacks
from nmt.callbacks import AttentionHeatmaps
from nmt.checkpoint import load_run
from nmt.data import build_datamodule
from nmt.module import Seq2SeqModule


def _datamodule(run_dir: Path):
    dm = build_datamodule(OmegaConf.load(run_dir / "config.yaml"))
    dm.prepare_data()
    dm.setup("fit")
    return dm


def _module(run_dir: Path) -> Seq2SeqModule:
    # lr 0: the weights stay put, only the callback's behaviour is under test
    return Seq2SeqModule(load_run(run_dir).model, optimizer=partial(torch.optim.SGD, lr=0.0))


class Recording(AttentionHeatmaps):
    """Remembers when it drew."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[bool, int]] = []

    def draw(self, trainer, pl_module):
        self.calls.append((trainer.sanity_checking, trainer.current_epoch))
        return super().draw(trainer, pl_module)


def _fit(run_dir: Path, root: Path, callback: pl.Callback, epochs: int = 2) -> None:
    trainer = pl.Trainer(
        max_epochs=epochs,
        limit_train_batches=1,
        limit_val_batches=1,
        num_sanity_val_steps=1,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[callback],
        default_root_dir=root,
        use_distributed_sampler=False,
    )
    trainer.fit(_module(run_dir), datamodule=_datamodule(run_dir))


def test_a_small_trainer_writes_heatmaps_per_validation_and_skips_the_sanity_check(rnn_run, tmp_path):
    callback = Recording(sentences=2)
    _fit(rnn_run, tmp_path, callback)
    assert callback.calls == [(False, 0), (False, 1)]  # the sanity check ran too, but drew nothing
    for epoch in ("epoch000", "epoch001"):
        files = sorted(p.name for p in (tmp_path / "attention" / epoch).iterdir())
        assert files == ["sent0.png", "sent1.png"]
        assert all((tmp_path / "attention" / epoch / f).stat().st_size > 1000 for f in files)


class FakeBoard(TensorBoardLogger):
    """A TensorBoardLogger whose writer records figures (tensorboard itself need not be installed)."""

    def __init__(self) -> None:  # no super().__init__(): nothing is written
        self.figures: list[tuple[str, int]] = []

    @property
    def experiment(self):
        return SimpleNamespace(add_figure=lambda tag, fig, global_step, close: self.figures.append((tag, global_step)))


def _fake_trainer(dm, root: Path, **overrides) -> SimpleNamespace:
    fields = dict(
        sanity_checking=False,
        is_global_zero=True,
        current_epoch=4,
        global_step=40,
        loggers=[FakeBoard()],
        datamodule=dm,
        default_root_dir=str(root),
    )
    fields.update(overrides)
    return SimpleNamespace(**fields)


def test_every_n_validations_and_formats(rnn_run, tmp_path):
    module, dm = _module(rnn_run), _datamodule(rnn_run)
    callback = AttentionHeatmaps(sentences=1, every_n_validations=2, formats=("png", "svg"))
    for epoch in range(4):
        callback.on_validation_end(_fake_trainer(dm, tmp_path, current_epoch=epoch), module)
    assert sorted(p.name for p in (tmp_path / "attention").iterdir()) == ["epoch001", "epoch003"]
    assert sorted(p.name for p in (tmp_path / "attention" / "epoch001").iterdir()) == ["sent0.png", "sent0.svg"]


def test_a_plotting_error_is_a_warning_not_a_crash(rnn_run, tmp_path, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(nmt.callbacks, "save_figure", broken)
    module = _module(rnn_run)
    module.train()
    with caplog.at_level(logging.WARNING, logger="nmt.callbacks"):
        AttentionHeatmaps(sentences=1).on_validation_end(_fake_trainer(_datamodule(rnn_run), tmp_path), module)
    assert "attention heatmaps skipped at epoch 4: OSError: disk full" in caplog.text
    assert module.training


def test_no_datamodule_is_a_warning_too(rnn_run, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="nmt.callbacks"):
        AttentionHeatmaps().on_validation_end(_fake_trainer(None, tmp_path), _module(rnn_run))
    assert "needs trainer.fit(..., datamodule=TranslationDataModule)" in caplog.text


@pytest.mark.parametrize("fixture", ["transformer_run", "rnn_run"])
def test_direct_call_draws_restores_train_mode_and_feeds_tensorboard(fixture, request, tmp_path):
    run_dir = request.getfixturevalue(fixture)
    module = _module(run_dir)
    module.train()
    trainer = _fake_trainer(_datamodule(run_dir), tmp_path)
    AttentionHeatmaps(sentences=3).on_validation_end(trainer, module)
    assert module.training and module.model.training
    files = sorted((tmp_path / "attention" / "epoch004").glob("sent*.png"))
    assert [p.name for p in files] == ["sent0.png", "sent1.png", "sent2.png"]
    assert trainer.loggers[0].figures == [("attention/sent0", 40), ("attention/sent1", 40), ("attention/sent2", 40)]


def test_sanity_check_and_other_ranks_draw_nothing(rnn_run, tmp_path):
    module = _module(rnn_run)
    dm = _datamodule(rnn_run)
    callback = AttentionHeatmaps(sentences=1)
    callback.on_validation_end(_fake_trainer(dm, tmp_path, sanity_checking=True), module)
    callback.on_validation_end(_fake_trainer(dm, tmp_path, is_global_zero=False), module)
    assert not (tmp_path / "attention").exists()


def test_figure_title_and_labels_are_the_pieces(transformer_run, tmp_path, monkeypatch):
    dm = _datamodule(transformer_run)
    captured = {}

    def keep(fig, path, formats, dpi):
        captured["fig"] = fig
        return []

    monkeypatch.setattr(nmt.callbacks, "save_figure", keep)
    AttentionHeatmaps(sentences=1).draw(_fake_trainer(dm, tmp_path), _module(transformer_run))
    ax = captured["fig"].axes[0]
    src = [*dm.vocab.src_pieces(dm.sources("val")[0]), "</s>"]
    tgt = [*dm.vocab.tgt_pieces_from_ids(dm.vocab.encode_tgt([dm.references("val")[0]])[0]), "</s>"]
    assert [t.get_text() for t in ax.get_xticklabels()] == src
    assert [t.get_text() for t in ax.get_yticklabels()] == tgt
    assert "layer 2 · head average" in ax.get_title() and "epoch 4" in ax.get_title()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="must be >= 1"):
        AttentionHeatmaps(sentences=0)
    with pytest.raises(ValueError, match="choose among"):
        AttentionHeatmaps(formats=("jpg",))


@pytest.mark.parametrize("fixture", ["transformer_run", "rnn_run"])
def test_training_runs_save_heatmaps_when_enabled(fixture, request):
    run_dir = request.getfixturevalue(fixture)
    cfg = OmegaConf.load(run_dir / "config.yaml")
    assert cfg.callbacks.heatmaps._target_ == "nmt.callbacks.AttentionHeatmaps"
    epochs = sorted(p.name for p in (run_dir / "attention").iterdir())
    every = cfg.callbacks.heatmaps.every_n_validations
    assert epochs == [f"epoch{e:03d}" for e in range(every - 1, cfg.trainer.max_epochs, every)]
    assert all((run_dir / "attention" / e / "sent2.png").stat().st_size > 0 for e in epochs)
