"""Decode and score an evaluation set with a trained run: the library behind ``python -m nmt.evaluate``.

``evaluate(cfg)`` does what the command does (see ``nmt/evaluate.py`` for the settings and where the
files go), decoding and scoring through ``nmt.decoding.decode_and_score`` like every other command;
``load_eval_set`` and ``summary`` are shared with ``nmt.compare``, ``nmt.length_penalty`` and ``nmt.bench``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from nmt.api import Translator
from nmt.atomic import write_json_atomic, write_text_atomic
from nmt.checkpoint import LoadedRun, load_run, run_relative
from nmt.config_checks import decode_settings
from nmt.corpora.base import CorpusError
from nmt.corpora.reading import read_parallel
from nmt.decoding import check_max_tokens, check_workers, decode_and_score
from nmt.errors import ConfigError
from nmt.int8 import INPUT_BITS
from nmt.outputs import output_dir
from nmt.search import DecodeSettings

log = logging.getLogger(__name__)

# ``average=N`` weights that score more than this much BLEU below the best checkpoint on val get a warning.
AVERAGE_TOLERANCE_BLEU = 1.0

__all__ = ["evaluate", "load_eval_set", "decode_tag", "summary"]


def decode_tag(settings: DecodeSettings, checkpoint: str = "best", average: int = 0) -> str:
    """A short file-name tag for a checkpoint choice and decoding, e.g. ``avg5.beam5-lp0.6``."""
    if settings.strategy == "beam":
        tag = f"beam{settings.beam_size}-lp{settings.length_penalty:g}"
    elif settings.strategy == "sample":
        tag = f"sample-t{settings.temperature:g}-k{settings.top_k}-seed{settings.seed}"
    else:
        tag = settings.strategy
    if settings.strategy == "beam" and settings.stopping != "exact":
        tag += f"-stop{settings.stopping}"
    if settings.precision != "fp32":
        tag += f"-{settings.precision}"
    if (settings.max_len_a, settings.max_len_b) != (1.5, 10):
        tag += f"-len{settings.max_len_a:g}x{settings.max_len_b}"
    if average:
        return f"avg{average}.{tag}"
    if checkpoint == "best":
        return tag
    return f"{'last' if checkpoint == 'last' else Path(str(checkpoint)).stem}.{tag}"


# ---- the evaluate command ------------------------------------------------------------------------


def _data_config(run: LoadedRun, cfg: DictConfig) -> DictConfig:
    """The run's data config with the command line's ``data.*`` and ``cache_dir`` overrides.

    The saved config is resolved, so ``data.corpus.root`` no longer points at ``data.root``: an
    override of ``data.<key>`` also sets ``data.corpus.<key>`` when the corpus takes that argument.
    """
    run_cfg = run.config.copy()
    given = {k: v for k, v in OmegaConf.to_container(cfg.get("data") or {}, resolve=True).items() if v is not None}
    if cfg.get("cache_dir") is not None:
        run_cfg.cache_dir = cfg.cache_dir
        given.setdefault("cache_dir", cfg.cache_dir)
    for key, value in given.items():
        if key != "cache_dir":
            run_cfg.data[key] = value
        if key in run_cfg.data.corpus:
            run_cfg.data.corpus[key] = value
    return run_cfg


def load_eval_set(run: LoadedRun, cfg: DictConfig) -> tuple[str, list[str], list[str]]:
    """The name, source lines and reference lines to score: a file pair, or a split of the run's data.

    Raises:
        CorpusError: unreadable files, or a split the data config does not have (the known ones listed).
    """
    if cfg.get("src_file") or cfg.get("ref_file"):
        if not (cfg.get("src_file") and cfg.get("ref_file")):
            raise CorpusError("give both src_file=<source file> and ref_file=<reference file>, or neither")
        src, ref = read_parallel(cfg.src_file, cfg.ref_file)
        return Path(str(cfg.src_file)).name.removesuffix(".gz"), src, ref
    corpus = instantiate(_data_config(run, cfg).data.corpus, _partial_=True)()  # its errors unwrapped
    split_name = str(cfg.split)
    if split_name not in corpus.splits:
        known = ", ".join(corpus.splits)
        raise CorpusError(
            f"split={split_name!r} is not a split of data {corpus.name!r} (known: {known}); "
            "pass one of those, or src_file=… ref_file=…"
        )
    split = corpus.splits[split_name]
    return split_name, list(split.src), list(split.tgt)


def check_average(run: LoadedRun, cfg: DictConfig, translator: Translator) -> dict | None:
    """With ``average=N``: the averaged weights' val BLEU against the best checkpoint's, and a warning if far below.

    The val split is decoded as nmt.train scored it (the run's ``val_decode``, greedy), so the best
    checkpoint's val BLEU recorded in ``results.json`` is a like-for-like reference. Returns None
    (nothing checked) without ``average``, or when the run has no recorded val BLEU or no val split.
    """
    try:
        best = float(json.loads((run.run_dir / "results.json").read_text(encoding="utf-8"))["val"]["bleu"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        _, sources, references = load_eval_set(run, OmegaConf.merge(cfg, {"split": "val", "src_file": None}))
    except CorpusError:
        return None
    bleu = translator.score(sources, references, decode_settings(run.config, "val_decode")).scores["bleu"]
    if bleu < best - AVERAGE_TOLERANCE_BLEU:
        log.warning(
            "average=%d: the averaged weights score val BLEU %.2f, %.2f below the best checkpoint's %.2f "
            "(results.json): early checkpoints pull the mean down; lower average= or drop it",
            len(run.averaged),
            bleu,
            best - bleu,
            best,
        )
    return {"val_bleu": bleu, "best_checkpoint_val_bleu": best, "tolerance": AVERAGE_TOLERANCE_BLEU}


def evaluate(cfg: DictConfig) -> dict:
    """Decode and score one evaluation set with a run (the ``nmt.evaluate`` command, as a function).

    Args:
        cfg: the ``conf/evaluate.yaml`` config: ``run``, ``split`` or ``src_file``/``ref_file``,
            ``checkpoint``, ``average``, ``decode``, ``max_tokens``, ``max_len``, ``device``,
            ``hypotheses`` and ``output`` paths (null: the defaults in the module docstring), ``save``.

    Returns:
        The results written to the JSON file.
    """
    if OmegaConf.is_missing(cfg, "run"):
        raise ConfigError("run=… is missing: pass the folder of a run written by nmt.train, e.g. run=runs/<…>")
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    settings = DecodeSettings(**OmegaConf.to_container(cfg.decode, resolve=True))
    workers = check_workers(cfg.get("workers", 1), cfg.get("device"))  # before any loading
    max_tokens = check_max_tokens(cfg.max_tokens)
    run = load_run(cfg.run, cfg.checkpoint, cfg.device, int(cfg.average))
    name, sources, references = load_eval_set(run, cfg)
    max_len = cfg.get("max_len")
    translator = Translator.from_run(run, None if max_len is None else int(max_len))  # as nmt.translate
    scored = decode_and_score(translator, sources, references, settings, max_tokens, True, workers)
    texts = scored.texts
    average_check = check_average(run, cfg, translator) if run.averaged else None

    tag = decode_tag(settings, str(cfg.checkpoint), int(cfg.average))
    base = output_dir(run.run_dir, bool(cfg.get("save")))
    hyp_path = Path(cfg.hypotheses) if cfg.get("hypotheses") else base / "hypotheses" / f"{name}.{tag}.txt"
    write_text_atomic(hyp_path, "".join(t + "\n" for t in texts))
    out_path = Path(cfg.output) if cfg.get("output") else base / "eval" / f"{name}.{tag}.json"

    report = {
        **scored.scores,
        "split": None if cfg.get("src_file") else name,
        "src_file": cfg.get("src_file"),
        "ref_file": cfg.get("ref_file"),
        "checkpoint": run_relative(run.checkpoint, run.run_dir),
        "averaged_checkpoints": [run_relative(p, run.run_dir) for p in run.averaged],
        "average_check": average_check,
        "hypotheses": str(hyp_path),
        "run_dir": str(run.run_dir),
        "model": run.config.model.name,
        "data": run.config.data.name,
        "src_lang": run.config.data.src_lang,
        "tgt_lang": run.config.data.tgt_lang,
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    if settings.precision == "int8":
        report["int8_input_bits"] = INPUT_BITS  # 8 with VNNI, else 7 (nmt.int8): the rounding depends on the CPU
    write_json_atomic(out_path, report)
    report["output"] = str(out_path)
    return report


def summary(report: dict) -> str:
    """One line: set, BLEU, chrF, speed and the BLEU signature."""
    where = report.get("split") or report.get("src_file")
    return (
        f"{where}: BLEU {report['bleu']:.2f} chrF {report['chrf']:.2f} (BLEU lc {report['bleu_lc']:.2f}) "
        f"| {report['sentences']} sent, {report['sentences_per_s']:.1f} sent/s | {report['signature']['bleu']}"
    )
