"""The models nmt may build from a config: its own, and those the user's code registers.

A run folder is untrusted input (``nmt.safe_load``): its ``config.yaml`` may only name a model class
found here, by its exact ``module.QualName``. The package's models are here from the start. A model
written outside the package gets in one way only, from trusted code:

* a module of the user's calls ``register_model(MyModel, config="my_model.yaml")``;
* a command imports that module when its command line says so, ``plugins=my_models`` (a comma list
  or ``[a,b]``; ``nmt.cli`` takes it off the line before Hydra reads it), or Python code imports it
  before calling the library (``nmt.load`` included).

Nothing in a run folder can import a module or register a class, so opening a shared run of a plugin
model needs the same ``plugins=`` on the command line; without it the folder is refused in one line.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from nmt.errors import ConfigError
from nmt.models.base import Seq2Seq
from nmt.models.rnn import Bahdanau
from nmt.models.transformer import Transformer

_MODELS: dict[str, type[Seq2Seq]] = {}
_CONFIGS: dict[str, DictConfig] = {}


def target_name(cls: type) -> str:
    """The ``_target_`` that names ``cls`` in a config: ``module.QualName``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def register_model(cls: type[Seq2Seq], config: str | Path | None = None, name: str | None = None) -> type[Seq2Seq]:
    """Let configs (and run folders) name ``cls``; with ``config``, also offer ``model=<name>`` to the commands.

    Args:
        cls: a ``Seq2Seq`` subclass (it must answer the model interface: ``attention_layout`` …).
        config: the model's YAML config (the shape of ``conf/model/*.yaml``: ``name``, ``net`` with
            ``_target_``, ``optimizer``, …); stored in Hydra's config store as ``model=<name>``.
        name: the config's name on the command line; defaults to the file's stem.

    Returns:
        ``cls``, so that it can be used as a decorator (without ``config``).

    Raises:
        ConfigError: ``cls`` is no ``Seq2Seq``, or the config cannot be read.
    """
    if not (isinstance(cls, type) and issubclass(cls, Seq2Seq)):
        raise ConfigError(f"register_model({cls!r}): a model must be a subclass of nmt.models.base.Seq2Seq")
    _MODELS[target_name(cls)] = cls
    if config is not None:
        path = Path(config)
        try:
            node = OmegaConf.load(path)
        except Exception as err:  # OmegaConf and YAML raise many types
            raise ConfigError(f"{path}: not a readable model config ({type(err).__name__}); fix the file") from None
        from hydra.core.config_store import ConfigStore  # Hydra only when a config is offered

        choice = name or path.stem
        ConfigStore.instance().store(group="model", name=choice, node=node)
        _CONFIGS[choice] = node
    return cls


def model_targets() -> frozenset[str]:
    """Every model ``_target_`` a run folder may name."""
    return frozenset(_MODELS)


def model_class(target: str) -> type[Seq2Seq] | None:
    """The registered model class named by ``target`` (a config's ``_target_``), or None."""
    return _MODELS.get(target)


def model_configs() -> list[str]:
    """The ``model=<name>`` choices registered models added (besides ``conf/model/*.yaml``)."""
    return sorted(_CONFIGS)


def load_plugins(modules: Sequence[str]) -> None:
    """Import the user's modules that register models (``plugins=`` on a command line).

    Raises:
        ConfigError: a module cannot be imported (the message names it and says how to make it importable).
    """
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ConfigError(
                f"plugins={module}: cannot import it ({err}); give a module name Python can import "
                "(its folder on PYTHONPATH, or an installed package)"
            ) from None


for _builtin in (Bahdanau, Transformer):
    register_model(_builtin)
