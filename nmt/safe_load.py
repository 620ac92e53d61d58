"""Opening run folders safely: they are untrusted input (people download and share them).

Two doors let a file run code: Hydra's ``instantiate`` calls whatever ``_target_`` a config names
(at any depth, inside lists too: ``pathlib.Path.write_text`` is as good as ``os.system``), and
pickle builds whatever object a checkpoint names. So:

* ``load_run_config`` reads a run's ``config.yaml``, resolves its interpolations once (so none can
  build a node later) and refuses it, in one line naming the key, unless every node that Hydra
  would call names a target of ``ALLOWED_TARGETS`` (the project's own corpora and the optimisers
  and schedulers its configs use) or a model class of ``nmt.models.registry`` (the project's own,
  and those the user's code registered: ``plugins=`` on the command line, never the folder); its
  ``TRAINING_ONLY`` sections, callbacks and loggers, are dropped unread (resuming checks them
  against ``RUN_CALLBACK_TARGETS``, see nmt/resume.py);
* ``read_checkpoint`` loads with ``torch.load(weights_only=True)`` and tells a truncated file from
  one that holds a Python object;
* ``check_weights_fit`` tells a checkpoint of another model from one of another vocabulary.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from torch import nn

from nmt.errors import CheckpointError
from nmt.models.registry import model_targets

# Exact names only: Hydra resolves a dotted name through attributes, so a prefix such as
# "nmt.models." would also admit "nmt.models.rnn.<anything rnn.py imported>".
ALLOWED_TARGETS = frozenset(
    {
        "nmt.corpora.files.load_files",
        "nmt.corpora.multi30k.load_multi30k",
        "nmt.corpora.toy.load_toy",
        "nmt.optim.adam",
        "nmt.optim.adamw",
        "torch.optim.Adam",
        "torch.optim.AdamW",
        "torch.optim.SGD",
        "nmt.schedule.inverse_sqrt",
        "nmt.schedule.constant",
        # conf/trainer/ddp.yaml's strategy: its arguments are plain options of Lightning and of
        # DistributedDataParallel (a nested _target_ among them is checked like any other)
        "pytorch_lightning.strategies.DDPStrategy",
    }
)
# The callbacks and loggers (conf/callbacks/, conf/logger/) that resuming a run may instantiate from
# its own config.yaml; any other (MLflow, W&B, one of yours) is given again on the resume command line.
RUN_CALLBACK_TARGETS = frozenset(
    {
        "nmt.run_state.AppendingCSVLogger",
        "nmt.callbacks.AttentionHeatmaps",
        "pytorch_lightning.loggers.TensorBoardLogger",
        "pytorch_lightning.callbacks.LearningRateMonitor",
        "pytorch_lightning.callbacks.EarlyStopping",
    }
)
# The sections of a run config that hold those; readers of a run (evaluate, translate, plot, compare)
# never train, so they drop these sections unread: a run logged to any tracker still opens.
TRAINING_ONLY = ("callbacks", "logger")
# Keys that make Hydra's instantiate treat a node as a call.
_HYDRA_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_")


def refuse_unknown_targets(node: Any, where: str, key: str = "", allowed: frozenset[str] | None = None) -> None:
    """Raise a CheckpointError unless every call a config could make is in ``allowed``.

    ``allowed`` defaults to ``ALLOWED_TARGETS`` and the registered model classes (see the module docstring).

    Args:
        node: a plain container (dicts, lists, scalars), e.g. ``OmegaConf.to_container(cfg)``.
        where: the file it came from, for the message.
        key: the dotted key of ``node`` (for messages; "" at the top).
        allowed: the targets that may be called (default ``ALLOWED_TARGETS`` and the registered models).
    """
    if isinstance(node, Mapping):
        special = [k for k in _HYDRA_KEYS if k in node]
        if special:
            target = node.get("_target_")
            names = ALLOWED_TARGETS | model_targets() if allowed is None else allowed
            if not isinstance(target, str) or target not in names:
                at = f"{key}._target_" if key else "_target_"
                named = f"names {target!r}" if "_target_" in node else f"has {special[0]} without a _target_"
                raise CheckpointError(
                    f"{where}: {at} {named}, which nmt does not instantiate from a run folder (only its own models, "
                    "corpora, optimisers and schedulers, and models registered by plugins=<module> on the command "
                    "line); this run folder may be malicious: do not open it, or fix that key by hand"
                )
        for k, value in node.items():
            refuse_unknown_targets(value, where, f"{key}.{k}" if key else str(k), allowed)
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            refuse_unknown_targets(value, where, f"{key}[{i}]", allowed)


def load_run_config(path: str | Path) -> DictConfig:
    """A run folder's ``config.yaml``, resolved and checked (see the module docstring), without its
    ``TRAINING_ONLY`` sections (callbacks and loggers: nothing that reads a run builds them).

    Raises:
        CheckpointError: the file is missing or not a YAML mapping, an interpolation does not
            resolve, or a node names a target outside ``ALLOWED_TARGETS``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; run=… must be a run folder written by nmt.train")
    try:
        loaded = OmegaConf.load(path)
        plain = OmegaConf.to_container(loaded, resolve=True)
    except (OmegaConfBaseException, yaml.YAMLError, OSError, UnicodeDecodeError) as err:
        raise CheckpointError(
            f"{path}: not a readable run config ({type(err).__name__}: {_first_line(err)}); "
            "use the config.yaml nmt.train wrote"
        ) from None
    if not isinstance(plain, dict):
        raise CheckpointError(f"{path}: not a mapping of settings; use the config.yaml nmt.train wrote")
    plain = {k: v for k, v in plain.items() if k not in TRAINING_ONLY}
    refuse_unknown_targets(plain, str(path))
    return OmegaConf.create(plain)


_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint's contents, loaded with ``weights_only=True`` (tensors and plain containers only).

    Raises:
        CheckpointError: no such file; a truncated or damaged file; a file that holds a Python
            object weights-only loading refuses (its name is given); or no ``state_dict`` in it.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint; pass an existing .ckpt file or a run folder")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights_only" not in str(err) and "Weights only" not in str(err):
            raise CheckpointError(f"{path}: damaged checkpoint (unpickling failed: {_first_line(err)})") from None
        found = _GLOBAL.search(str(err))
        what = f"a Python object ({found.group(1)})" if found else "a Python object"
        raise CheckpointError(
            f"{path}: refused: it holds {what}, not only tensors, and nmt loads checkpoints with weights_only=True "
            "(unpickling objects can run code); use a checkpoint written by nmt.train"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(
            f"{path}: truncated or damaged ({_first_line(err)}); use another checkpoint of the run "
            "(e.g. checkpoint=last) or retrain"
        ) from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), Mapping):
        raise CheckpointError(f"{path}: no state_dict in it: not a checkpoint written by nmt.train (Lightning)")
    return ckpt


def _first_line(err: BaseException) -> str:
    """The first sentence of an error's message (torch's run on for several), or its type."""
    text = str(err).strip()
    return text.splitlines()[0].split(". ")[0].rstrip(".") if text else type(err).__name__


def check_weights_fit(model: nn.Module, state: Mapping[str, torch.Tensor], path: Path, vocab_sizes: dict) -> None:
    """Raise a one-line CheckpointError unless ``state`` has exactly the names and shapes of ``model``.

    Args:
        model: the model built from the run's config.yaml and vocab/.
        state: the weights to load (names without Lightning's ``model.`` prefix).
        path: the checkpoint, for the message.
        vocab_sizes: e.g. ``{"source vocabulary": n, "target vocabulary": m}``: a shape that
            differs only where the model has one of these sizes is a checkpoint of another vocabulary.
    """
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = [
            f"{len(names)} {kind} (e.g. {names[0]})"
            for kind, names in (("missing", missing), ("unexpected", unexpected))
            if names
        ]
        raise CheckpointError(
            f"{path}: weights of another model: {', '.join(parts)} parameter names for the {type(model).__name__} "
            "of the run's config.yaml; use a checkpoint of this run"
        )
    vocab_dims: dict[str, tuple[int, int]] = {}
    others: list[str] = []
    for name, want in expected.items():
        got = state[name].shape
        if got == want.shape:
            continue
        dims = [(w, g) for w, g in zip(want.shape, got, strict=False) if w != g]
        sides = [side for side, n in vocab_sizes.items() for w, _ in dims if w == n]
        if len(got) == len(want.shape) and len(dims) == 1 and sides:
            for side in sides:
                vocab_dims.setdefault(side, (dims[0][0], dims[0][1]))
        else:
            others.append(f"{name} {tuple(got)} vs {tuple(want.shape)}")
    if others:
        raise CheckpointError(
            f"{path}: weights of another model size ({others[0]}{' …' if len(others) > 1 else ''}: checkpoint vs "
            "config.yaml); use a checkpoint of this run"
        )
    if vocab_dims:
        sizes = ", ".join(f"{side} {got} pieces (run's vocab/: {want})" for side, (want, got) in vocab_dims.items())
        raise CheckpointError(
            f"{path}: a checkpoint of another vocabulary: trained with {sizes}; use it with the vocab/ folder of "
            "the run that wrote it"
        )
