"""Lightning callbacks: attention heatmaps of a few fixed validation sentences while training.

``nmt.train`` adds ``AttentionHeatmaps`` through conf/callbacks/heatmaps.yaml (``callbacks.heatmaps=null``
drops it). Watching the same sentences epoch after epoch shows attention go from a blur to (for a
good model) a near diagonal, or to whatever the heads learn instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
from matplotlib.figure import Figure
from pytorch_lightning.loggers import TensorBoardLogger

from nmt.attention_maps import SentenceAttention, teacher_forced
from nmt.figures import FORMATS, attention_heatmap, save_figure
from nmt.vocab import Vocab

log = logging.getLogger(__name__)


@dataclass
class _Examples:
    """The fixed sentences drawn at every validation: source texts and reference target ids."""

    vocab: Vocab
    sources: list[str]
    targets: list[list[int]]


class AttentionHeatmaps(pl.Callback):
    """After each validation, draw the attention of the first ``sentences`` pairs of the val split.

    The model is run teacher-forced on the references (a few sentences: a fraction of a second) and
    the last decoder layer's head-averaged cross-attention (the RNN: Bahdanau α) is saved per sentence
    to ``<dirpath>/attention/epoch{E:03d}/sent{i}.<format>``, and added to TensorBoard when a
    ``TensorBoardLogger`` is among ``trainer.loggers``. Only global rank 0 draws; the sanity check is
    skipped; a failure is logged as a warning and never stops training.

    Args:
        sentences: how many val pairs to draw (the first ones of the split, so always the same).
        every_n_validations: draw at every n-th validation only.
        formats: file formats, any of png, svg, pdf.
        split: the DataModule split to take the sentences from.
        dpi: resolution of png files (100 keeps a validation's drawing well under a second or two).
        dirpath: where ``attention/`` goes; defaults to ``trainer.default_root_dir`` (the run folder).
    """

    def __init__(
        self,
        sentences: int = 3,
        every_n_validations: int = 1,
        formats: Sequence[str] = ("png",),
        split: str = "val",
        dpi: int = 100,
        dirpath: str | Path | None = None,
    ) -> None:
        super().__init__()
        if sentences < 1 or every_n_validations < 1:
            raise ValueError(f"sentences={sentences} and every_n_validations={every_n_validations} must be >= 1")
        bad = [f for f in formats if f not in FORMATS]
        if bad or not formats:
            raise ValueError(f"formats={list(formats)}: choose among {list(FORMATS)}")
        self.sentences, self.every_n_validations, self.formats = sentences, every_n_validations, tuple(formats)
        self.split, self.dpi, self.dirpath = split, dpi, dirpath
        self._examples: _Examples | None = None
        self._validations = 0

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._examples = None  # read again from this fit's DataModule at first use

    def state_dict(self) -> dict[str, int]:
        """The validations counted so far: a resumed run draws at the same validations."""
        return {"validations": self._validations}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self._validations = int(state_dict.get("validations", 0))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        self._validations += 1
        if self._validations % self.every_n_validations:
            return
        try:
            self.draw(trainer, pl_module)
        except Exception as err:  # a figure is never worth a training run
            log.warning(
                "attention heatmaps skipped at epoch %d: %s: %s", trainer.current_epoch, type(err).__name__, err
            )

    def _read_examples(self, trainer: pl.Trainer) -> _Examples:
        dm = trainer.datamodule
        if dm is None or getattr(dm, "vocab", None) is None:
            raise RuntimeError("AttentionHeatmaps needs trainer.fit(..., datamodule=TranslationDataModule)")
        sources = dm.sources(self.split)[: self.sentences]
        targets = dm.vocab.encode_tgt(dm.references(self.split)[: self.sentences])
        return _Examples(dm.vocab, sources, targets)

    def draw(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> list[Path]:
        """Draw and save the heatmaps now (``on_validation_end`` calls this); returns the files written."""
        if self._examples is None:
            self._examples = self._read_examples(trainer)
        ex = self._examples
        model = getattr(pl_module, "model", pl_module)  # Seq2SeqModule wraps the bare Seq2Seq
        # teacher_forced switches to eval mode for the pass and restores the mode it found.
        attention = teacher_forced(model, ex.vocab, ex.sources, ex.targets)
        epoch = trainer.current_epoch
        folder = Path(self.dirpath or trainer.default_root_dir) / "attention" / f"epoch{epoch:03d}"
        boards = [lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        written: list[Path] = []
        for i, att in enumerate(attention):
            fig = _figure(att, f"{type(model).__name__} · epoch {epoch} · {self.split} #{i}")
            written += save_figure(fig, folder / f"sent{i}", self.formats, dpi=self.dpi)
            for board in boards:
                board.experiment.add_figure(f"attention/sent{i}", fig, global_step=trainer.global_step, close=False)
        return written


def _figure(att: SentenceAttention, title: str) -> Figure:
    """The last layer's head average (the RNN: its single α). Shapes: att.cross (L, h, T, S) -> (T, S)."""
    what = att.cross_name if att.layout.single_map else f"layer {att.layout.layers} · head average"
    return attention_heatmap(att.cross[-1].mean(axis=0), att.src_pieces, att.tgt_pieces, title=f"{title}\n{what}")
