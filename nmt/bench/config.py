"""What ``nmt.bench`` measures and on which data: the quick settings, the corpus, the composed train config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import hydra
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from nmt.config_checks import check_config
from nmt.corpora.multi30k import MAIN_SPLITS
from nmt.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def effective_config(cfg: DictConfig) -> DictConfig:
    """``cfg`` with ``quick_settings`` applied when ``quick`` is true (overrides lists are appended)."""
    if not cfg.quick:
        return cfg
    quick = cfg.quick_settings
    keys = ["peak", "warmup", "steps", "profile_steps", "sentences", "sequential_sentences", "greedy", "beam"]
    out = OmegaConf.merge(cfg, {k: quick[k] for k in keys + ([] if cfg.threads else ["threads"])})
    out.overrides = [*cfg.overrides, *quick.overrides]
    for name in out.model_overrides:
        out.model_overrides[name] = [*cfg.model_overrides[name], *quick.model_overrides.get(name, [])]
    return out


@dataclass(frozen=True)
class DataChoice:
    """Which corpus the benchmark batches come from, and why."""

    name: str
    root: str | None
    reason: str


def choose_data(cfg: DictConfig) -> DataChoice:
    """Multi30k from ``data.root``, else from the cache when every main file is there, else the toy corpus."""
    if cfg.quick:
        return DataChoice("toy", None, "quick=true always uses a small toy corpus")
    if cfg.data.root:
        return DataChoice("multi30k", str(cfg.data.root), f"data.root={cfg.data.root}")
    cached = Path(str(cfg.cache_dir)).expanduser() / "multi30k"
    langs = (cfg.data.src_lang, cfg.data.tgt_lang)
    if all((cached / f"{stem}.{lang}.gz").is_file() for stem in MAIN_SPLITS.values() for lang in langs):
        return DataChoice("multi30k", str(cached), f"found in the cache {cached}")
    return DataChoice("toy", None, f"no data.root given and no Multi30k in {cached}: the toy corpus stands in")


def compose_train(overrides: list[str]) -> DictConfig:
    """conf/train.yaml composed with ``overrides`` (inside a Hydra app or a test's Hydra context, or alone)."""
    if GlobalHydra.instance().is_initialized():
        return hydra.compose(config_name="train", overrides=overrides)
    with hydra.initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra.compose(config_name="train", overrides=overrides)


def train_config(cfg: DictConfig, model: str, data: DataChoice) -> DictConfig:
    """conf/train.yaml for ``model`` at its default size on the chosen data, plus the bench's overrides.

    Paths and languages are set on the composed config rather than passed as override strings,
    so that any path (spaces, ``~``) works.
    """
    extra = [*cfg.overrides, *cfg.model_overrides.get(model, [])]
    train_cfg = compose_train([f"model={model}", f"data={data.name}", *extra])
    train_cfg.cache_dir, train_cfg.seed = str(cfg.cache_dir), int(cfg.seed)
    train_cfg.data.src_lang, train_cfg.data.tgt_lang = str(cfg.data.src_lang), str(cfg.data.tgt_lang)
    if data.root is not None:
        train_cfg.data.root = data.root
    return train_cfg


def lever_config(cfg: DictConfig, model: str, data: DataChoice, devices: int) -> DictConfig:
    """``train_config`` as a lever row on ``devices`` processes trains it: with more than one, under
    conf/trainer/ddp.yaml (Lightning's DDP, gloo on CPU) before the bench's own ``overrides``."""
    if devices > 1:  # as `nmt.train trainer=ddp trainer.accelerator=cpu trainer.devices=N` trains
        ddp = ["trainer=ddp", "trainer.accelerator=cpu", f"trainer.devices={devices}"]
        cfg = OmegaConf.merge(cfg, {"overrides": [*ddp, *cfg.overrides]})
    return train_config(cfg, model, data)


def check_train_config(cfg: DictConfig, model: str, data: DataChoice, devices: int, row: str) -> None:
    """Compose ``lever_config`` and run ``nmt.train``'s config checks on it; any error is one line naming ``row``.

    Called for every row before anything is measured, so that a wrong override (Hydra: "Could not
    override 'label_smoothing'…") fails in a second, not after minutes of the rows before it.
    """
    try:
        check_config(lever_config(cfg, model, data, devices))
    except (ConfigCompositionException, OmegaConfBaseException) as err:
        raise ConfigError(f"{row}: {' '.join(str(err).split())}") from None
    except ConfigError as err:
        raise ConfigError(f"{row}: {err}") from None
