"""Build models from a config and load them safely from checkpoints and run folders."""

from __future__ import annotations

import glob
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from nmt.errors import CheckpointError, ConfigError
from nmt.models.base import Seq2Seq
from nmt.safe_load import check_weights_fit, load_run_config, read_checkpoint
from nmt.vocab import Vocab


def model_config(model_cfg: DictConfig, vocab: Vocab) -> dict[str, Any]:
    """``model_cfg.net`` as a plain dict, with the sizes and special ids of ``vocab`` added: all
    that building the model takes (``Seq2SeqModule`` keeps it in its checkpoints' hyper-parameters)."""
    net = OmegaConf.to_container(model_cfg.net, resolve=True)
    sizes = {"src_vocab_size": vocab.src_size, "tgt_vocab_size": vocab.tgt_size}
    ids = {"pad_id": vocab.pad_id, "bos_id": vocab.bos_id, "eos_id": vocab.eos_id}
    return {**net, **sizes, **ids, "shared_vocab": vocab.joint}


def build_model(model_cfg: DictConfig, vocab: Vocab) -> Seq2Seq:
    """Instantiate ``model_cfg.net`` with the sizes and special ids of ``vocab``."""
    return instantiate(model_config(model_cfg, vocab))


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The model weights of a Lightning checkpoint, loaded with ``weights_only=True``.

    Keys lose the LightningModule's ``model.`` prefix, so they fit the bare ``Seq2Seq``.
    """
    state = read_checkpoint(path)["state_dict"]
    return {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}


@dataclass
class LoadedRun:
    """A trained model with its vocabulary and configuration, ready to translate."""

    model: Seq2Seq
    vocab: Vocab
    config: DictConfig
    checkpoint: Path
    run_dir: Path
    averaged: list[Path] = field(default_factory=list)


def _resolve(spec: str, run_dir: Path) -> Path:
    """A path as given, or relative to the run folder when it only exists there."""
    path = Path(spec).expanduser()
    if not path.is_absolute() and not path.exists() and (run_dir / path).exists():
        return run_dir / path
    return path


def _is_glob(spec: str) -> bool:
    return any(c in spec for c in "*?[")


def find_checkpoint(run_dir: Path, which: str = "best") -> Path:
    """``best`` (highest val BLEU, as recorded in results.json or by its name), ``last``, or a path.

    A relative path is read from the working directory, or else from the run folder.
    """
    if which not in ("best", "last"):
        if _is_glob(which):
            raise CheckpointError(f"checkpoint={which!r} is a pattern: pass average=N to average the files it matches")
        return _resolve(which, run_dir)
    ckpts = run_dir / "checkpoints"
    if which == "last":
        return ckpts / "last.ckpt"
    best = sorted(ckpts.glob("best-*.ckpt"))
    if not best:
        raise CheckpointError(f"{ckpts}: no best-*.ckpt checkpoint; train first, or pass checkpoint=last")
    return best[-1]


_STEP = re.compile(r"step[=_-]?(\d+)")


def _oldest_first(paths: Sequence[Path]) -> list[Path]:
    """By the training step in the file names (``…step000123…``) when all have one, else by mtime."""
    if all(_STEP.search(p.name) for p in paths):
        return sorted(paths, key=lambda p: int(_STEP.search(p.name).group(1)))
    return sorted(paths, key=lambda p: p.stat().st_mtime)


def checkpoint_pool(spec: str | Sequence[str], run_dir: Path) -> list[Path]:
    """The checkpoints that averaging chooses from, oldest first.

    Args:
        spec: ``best`` or ``last``: the run's own epoch checkpoints (every ``checkpoints/*.ckpt``
            except ``best-*`` and ``last.ckpt``, which duplicate one of them); a folder: its
            ``*.ckpt``; a glob pattern: the files it matches; a list: those files.
        run_dir: the run folder (relative paths and patterns are also tried from it).
    """
    if isinstance(spec, str) and spec in ("best", "last"):
        folder = run_dir / "checkpoints"
        paths = [p for p in folder.glob("*.ckpt") if p.name != "last.ckpt" and not p.name.startswith("best-")]
    elif isinstance(spec, str) and _is_glob(spec):
        pattern = str(Path(spec).expanduser())
        found = glob.glob(pattern) or (glob.glob(str(run_dir / pattern)) if not Path(pattern).is_absolute() else [])
        paths = [Path(p) for p in found]
    elif isinstance(spec, str):
        path = _resolve(spec, run_dir)
        paths = sorted(path.glob("*.ckpt")) if path.is_dir() else [path]
    else:
        paths = [_resolve(str(s), run_dir) for s in spec]
    return _oldest_first(sorted(set(paths)))


def select_checkpoints(spec: str | Sequence[str], run_dir: Path, n: int) -> list[Path]:
    """The ``n`` most recent checkpoints of ``checkpoint_pool(spec, run_dir)``, oldest first."""
    pool = checkpoint_pool(spec, run_dir)
    if len(pool) < n:
        where = run_dir / "checkpoints" if isinstance(spec, str) and spec in ("best", "last") else spec
        found = ", ".join(p.name for p in pool) or "none"
        raise CheckpointError(
            f"{where}: average={n} needs {n} checkpoints, found {len(pool)} ({found}); keep more per-epoch "
            "checkpoints when training, pass checkpoint='<folder or glob>' with enough files, or lower average"
        )
    return pool[-n:]


def average_checkpoints(paths: Sequence[str | Path]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the model weights of several checkpoints of one model.

    Floating-point tensors are summed in float64 and cast back to their dtype; other tensors
    (integer buffers) are taken from the last checkpoint.

    Raises:
        CheckpointError: no paths, an unreadable file, or weights of different names or shapes.
    """
    if not paths:
        raise CheckpointError("no checkpoints to average; pass at least one .ckpt file")
    first = Path(paths[0])
    reference = load_weights(first)
    total = {k: v.double() if v.is_floating_point() else v for k, v in reference.items()}
    for path in paths[1:]:
        state = load_weights(path)
        if state.keys() != total.keys():
            raise CheckpointError(f"{path}: holds other weights than {first}; average checkpoints of one run only")
        for name, value in state.items():
            if value.shape != total[name].shape:
                raise CheckpointError(
                    f"{path}: {name} has shape {tuple(value.shape)}, not {tuple(total[name].shape)} as in {first}; "
                    "average checkpoints of one run only"
                )
            total[name] = total[name] + value.double() if value.is_floating_point() else value
    n = len(paths)
    return {k: (v / n).to(reference[k].dtype) if reference[k].is_floating_point() else v for k, v in total.items()}


def run_relative(path: Path, run_dir: Path) -> str:
    """A checkpoint path as written in results and reports: relative to the run folder when inside it."""
    return str(path.relative_to(run_dir)) if path.is_relative_to(run_dir) else str(path)


def unfinished_reason(results: dict) -> str | None:
    """Why a run's ``results.json`` holds no test scores (interrupted or diverged), or None when it does."""
    status = results.get("status", "finished")
    if status == "finished" and "test" in results:
        return None
    step = results.get("train", {}).get("steps", "?")
    resume = results.get("resume_command")
    then = f"finish it with `{resume}`" if resume else "train it again"
    return f"the run is {status} (stopped at step {step}), so it has no test scores; {then}"


def tested_weights(run_dir: Path) -> tuple[str | list[str], int]:
    """What ``results.json`` says the test split was scored with: (checkpoint, average) for ``load_run``."""
    path = run_dir / "results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(
            f"{path}: unreadable ({type(err).__name__}); checkpoint=tested needs a finished run: use best or last"
        ) from None
    unfinished = unfinished_reason(results)
    if unfinished:
        raise CheckpointError(f"{path}: {unfinished}; checkpoint=tested needs a finished run (or use best or last)")
    averaged = results.get("tested_weights", {}).get("averaged") or []
    if averaged:
        return list(averaged), len(averaged)
    return str(results.get("best_checkpoint", "best")), 0


def load_run(
    run_dir: str | Path, checkpoint: str | Sequence[str] = "best", device: str = "cpu", average: int = 0
) -> LoadedRun:
    """Load the model of a run folder (its config.yaml, vocab/ and checkpoints/), in eval mode.

    Args:
        run_dir: a folder written by ``nmt.train``.
        checkpoint: ``best``, ``last``, ``tested`` (the weights nmt.train scored on the test split:
            the best checkpoint or the average it chose) or a path; with ``average``, also a folder,
            a glob pattern or a list of files (see ``checkpoint_pool``).
        device: where to put the model ("cpu", "cuda", ...).
        average: when N > 0, load the mean weights of the N most recent checkpoints.
    """
    run_dir = Path(run_dir).expanduser()
    cfg = load_run_config(run_dir / "config.yaml")  # refuses unknown _target_s before anything runs
    if isinstance(checkpoint, str) and checkpoint == "tested":
        if average:
            raise ConfigError(f"checkpoint=tested already says whether to average: drop average={average}")
        checkpoint, average = tested_weights(run_dir)
    if average < 0:
        raise ConfigError(f"average={average}: give the number of checkpoints to average (0 = no averaging)")
    vocab = Vocab.load(run_dir / "vocab")
    model = build_model(cfg.model, vocab)
    averaged: list[Path] = []
    if average:
        averaged = select_checkpoints(checkpoint, run_dir, average)
        path, state = averaged[-1], average_checkpoints(averaged)
    else:
        path = find_checkpoint(run_dir, str(checkpoint))
        state = load_weights(path)
    sizes = {"source vocabulary": vocab.src_size, "target vocabulary": vocab.tgt_size}
    same = vocab.joint or vocab.src_size == vocab.tgt_size  # one size: say which side cannot be told
    check_weights_fit(model, state, path, {"vocabulary": vocab.src_size} if same else sizes)
    model.load_state_dict(state)
    return LoadedRun(model.to(device).eval(), vocab, cfg, path, run_dir, averaged)
