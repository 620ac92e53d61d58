"""Seq2SeqModule: the LightningModule that trains any model of the decoding contract."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import pytorch_lightning as pl
import torch
import torch.distributed as dist
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf
from pytorch_lightning.plugins.precision import MixedPrecision, Precision
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from nmt.batch import Batch
from nmt.errors import NmtError
from nmt.metrics import corpus_bleu
from nmt.models.base import Seq2Seq
from nmt.safe_load import refuse_unknown_targets
from nmt.search import DecodeSettings, decode

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter]], Optimizer]
SchedulerFactory = Callable[[Optimizer], LRScheduler]


class NonFiniteLossError(NmtError):
    """Training produced a non-finite loss (or weights); ``step`` is the optimiser step it happened at."""

    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.step = step


class Seq2SeqModule(pl.LightningModule):
    """Label-smoothed cross-entropy training, validation loss and validation BLEU.

    Given as configs (plain mappings with a ``_target_``, as ``nmt.train`` does), the model, the
    optimiser and the scheduler are built here and the configs are saved as hyper-parameters in
    every checkpoint, so that ``Seq2SeqModule.load_from_checkpoint(path)`` rebuilds the module on its
    own (only targets of ``nmt.safe_load.ALLOWED_TARGETS`` are instantiated). Given as objects, they
    are used as they are and not saved (``load_from_checkpoint`` then needs them as arguments).

    Args:
        model: any ``Seq2Seq`` (the RNN or the Transformer), or its config with the vocabulary
            sizes and special ids (``nmt.checkpoint.model_config``).
        optimizer: builds the optimiser from the parameters (a Hydra ``_partial_``), or its config.
        scheduler: builds an LR scheduler from the optimiser, stepped every optimiser step, or its
            config, or None.
        label_smoothing: ε of the smoothed cross-entropy.
        val_decode: how validation hypotheses are decoded for BLEU (greedy by default); a mapping of
            ``DecodeSettings`` fields is accepted too.
        detokenize: target ids -> text; with ``val_references`` it enables validation BLEU.
        val_references: the detokenised references of the validation split, in split order.
        skip_nonfinite: a batch whose loss is NaN/inf is skipped (no update) instead of stopping
            training with ``NonFiniteLossError``; training stops anyway once the weights themselves
            are no longer finite. Checkpoints are never written with non-finite weights.
        compile_loss: the training loss runs through ``torch.compile`` (inductor, dynamic shapes):
            softmax, smoothing and their gradient in fewer passes over the (B·T, V) logits. It
            costs a compile (about 30 s on a CPU) at the first step; ``nmt.bench`` measures the gain.
        compile_model: the teacher-forced forward of training steps runs through ``torch.compile``
            (inductor, dynamic shapes), as the model's ``compiled_forward`` chooses (the RNN compiles
            its per-position body), so the elementwise work around the matmuls (dropout, residual
            sums, layer norms, activations, gates) fuses; validation and decoding stay eager. A longer
            compile than the loss's; ``nmt.bench`` measures whether it pays.
    """

    def __init__(
        self,
        model: Seq2Seq | Mapping[str, Any],
        optimizer: OptimizerFactory | Mapping[str, Any],
        scheduler: SchedulerFactory | Mapping[str, Any] | None = None,
        label_smoothing: float = 0.1,
        val_decode: DecodeSettings | Mapping[str, Any] | None = None,
        detokenize: Callable[[Sequence[int]], str] | None = None,
        val_references: Sequence[str] | None = None,
        skip_nonfinite: bool = False,
        compile_loss: bool = False,
        compile_model: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(val_decode, Mapping):
            val_decode = DecodeSettings(**val_decode)
        self.val_decode = val_decode or DecodeSettings(strategy="greedy")
        given = {"model": model, "optimizer": optimizer, "scheduler": scheduler}
        configs = {k: _plain(v) for k, v in given.items() if isinstance(v, Mapping)}
        scalars = {
            "label_smoothing": label_smoothing,
            "skip_nonfinite": skip_nonfinite,
            "compile_loss": compile_loss,
            "compile_model": compile_model,
        }
        # Plain containers only: checkpoints stay loadable with torch.load(weights_only=True).
        self.save_hyperparameters({**configs, **scalars, "val_decode": asdict(self.val_decode)})
        built = {k: _build(k, v) for k, v in configs.items()}
        self.model: Seq2Seq = built.get("model", model)
        self.optimizer_factory = built.get("optimizer", optimizer)
        self.scheduler_factory = built.get("scheduler", scheduler)
        self.label_smoothing = label_smoothing
        self.detokenize = detokenize
        self.val_references = list(val_references) if val_references is not None else None
        self.skip_nonfinite = skip_nonfinite
        self.compile_loss = compile_loss
        # Built once (dynamic: token-bucket batches change shape every step); not an attribute of
        # the model, so state_dict and checkpoints are those of the eager model.
        self._compiled_forward = self.model.compiled_forward() if compile_model else None
        self.skipped_batches = 0  # batches skipped for a non-finite loss (kept in checkpoints)
        self.train_tokens = 0  # target tokens seen by all ranks together, for tokens/sec (kept in checkpoints)
        self.elapsed_before = 0.0  # training seconds of earlier sessions of a resumed run
        self._train_start: float | None = None
        self._val_hyps: list[tuple[int, list[int]]] = []

    def loss(self, logits: Tensor, target: Tensor, label_smoothing: float) -> Tensor:
        """Mean cross-entropy per real target token. Shapes: logits (B, T, V); target (B, T)."""
        cross_entropy = compiled_cross_entropy() if self.compile_loss and self.training else F.cross_entropy
        return cross_entropy(
            logits.flatten(0, 1),  # (B·T, V)
            target.flatten(),  # (B·T,)
            ignore_index=self.model.pad_id,
            label_smoothing=label_smoothing,
        )

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor | None:
        forward = self._compiled_forward or self.model
        logits, _ = forward(batch.src, batch.src_mask, batch.tgt_in)  # (B, T, V)
        loss = self.loss(logits, batch.tgt_out, self.label_smoothing)
        finite = bool(torch.isfinite(loss))
        # Every rank's tokens (the run's figures count them all), summed before any rank may skip.
        self.train_tokens += self._sum_over_ranks(batch.ntokens if finite else 0)
        if not finite:
            return self._non_finite(loss)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch.ntokens)
        return loss

    def _sum_over_ranks(self, n: int) -> int:
        """``n`` summed over the DDP processes (``n`` itself in one process or outside a Trainer)."""
        if self._trainer is None or self.trainer.world_size == 1:
            return n
        total = self.trainer.strategy.reduce(torch.tensor(n, device=self.device), reduce_op="sum")
        return int(total)

    def _non_finite(self, loss: Tensor) -> None:
        """Skip the batch (returning None makes Lightning skip backward and the update) or stop."""
        step = self.global_step
        if self.skip_nonfinite and self.weights_finite():
            self.skipped_batches += 1
            self.log("train/skipped_nonfinite", float(self.skipped_batches), batch_size=1)
            return None
        what = "the weights are no longer finite" if self.skip_nonfinite else f"train/loss is {loss.item()}"
        raise NonFiniteLossError(f"{what} at step {step} (epoch {self.current_epoch})", step)

    def weights_finite(self) -> bool:
        """Whether every parameter is finite (checked before each checkpoint and after a bad batch)."""
        return all(bool(torch.isfinite(p).all()) for p in self.parameters())

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        logits, _ = self.model(batch.src, batch.src_mask, batch.tgt_in)  # (B, T, V)
        # The unsmoothed NLL, so that val/loss is a log-perplexity comparable across settings.
        self.log("val/loss", self.loss(logits, batch.tgt_out, 0.0), batch_size=batch.ntokens, sync_dist=True)
        if self.val_references is not None:
            hyps = decode(self.model, batch.src, batch.src_mask, self.val_decode)
            self._val_hyps.extend(zip(batch.index.tolist(), (h[0].tokens for h in hyps), strict=True))

    def on_train_start(self) -> None:
        self._train_start = time.perf_counter()

    def elapsed_seconds(self) -> float:
        """Wall-clock seconds since training started (validation included), across resumes."""
        running = time.perf_counter() - self._train_start if self._train_start is not None else 0.0
        return self.elapsed_before + running

    def on_validation_epoch_start(self) -> None:
        self._val_hyps = []

    def on_validation_epoch_end(self) -> None:
        if self.val_references is None or self.detokenize is None:
            return
        decoded = dict(_gather(self._val_hyps))  # index -> tokens; DDP duplicates collapse here
        order = sorted(decoded)
        # The sanity check decodes only a few batches: score them against their own references.
        bleu, _ = corpus_bleu([self.detokenize(decoded[i]) for i in order], [self.val_references[i] for i in order])
        self.log("val/bleu", bleu, prog_bar=True, sync_dist=False)  # identical on every rank
        # For learning curves against time (nmt.compare): the moment this validation finished.
        self.log("val/wall_time_s", self.elapsed_seconds(), sync_dist=False)
        self._val_hyps = []

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_gradient_clipping(
        self, optimizer: Optimizer, gradient_clip_val: float | None = None, gradient_clip_algorithm: str | None = None
    ) -> None:
        plugin = self.trainer.precision_plugin
        if gradient_clip_val and isinstance(plugin, MixedPrecision) and plugin.scaler is None:
            # bf16-mixed has no loss scaler, so there is nothing to unscale before clipping; Lightning
            # still refuses to clip for an optimiser that could unscale itself (fused Adam): clip as fp32 does.
            Precision.clip_gradients(plugin, optimizer, gradient_clip_val, gradient_clip_algorithm or "norm")
            return
        super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if not self.weights_finite():  # raised before the file is opened: a good checkpoint stays
            raise NonFiniteLossError(
                f"the weights are no longer finite at step {self.global_step}: checkpoint not written", self.global_step
            )
        checkpoint["train_tokens"] = self.train_tokens
        checkpoint["skipped_batches"] = self.skipped_batches
        checkpoint["elapsed_seconds"] = self.elapsed_seconds()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.train_tokens = int(checkpoint.get("train_tokens", 0))
        self.skipped_batches = int(checkpoint.get("skipped_batches", 0))
        self.elapsed_before = float(checkpoint.get("elapsed_seconds", 0.0))


@functools.cache
def compiled_cross_entropy() -> Callable[..., Tensor]:
    """``F.cross_entropy`` under ``torch.compile``, built once per process (dynamic: batch shapes vary)."""
    return torch.compile(F.cross_entropy, dynamic=True)


def _plain(config: Mapping[str, Any]) -> dict[str, Any]:
    """A config (DictConfig or mapping) as plain, resolved containers."""
    return OmegaConf.to_container(OmegaConf.create(dict(config)), resolve=True)


def _build(name: str, config: dict[str, Any]) -> Any:
    """Instantiate one of the module's configs, after checking its targets against the allow-list
    (a checkpoint's hyper-parameters are as untrusted as the run folder it came in)."""
    refuse_unknown_targets(config, f"Seq2SeqModule({name}=…)", name)
    built = instantiate(config)
    if name == "model" and not isinstance(built, nn.Module):
        raise TypeError(f"Seq2SeqModule(model=…): {config.get('_target_')} built a {type(built).__name__}, not a model")
    return built


def _gather(items: list[Any]) -> list[Any]:
    """Concatenate a per-rank list across DDP ranks (the list itself when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return items
    parts: list[list[Any]] = [[] for _ in range(dist.get_world_size())]
    dist.all_gather_object(parts, items)
    return [x for part in parts for x in part]
