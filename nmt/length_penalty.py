"""``python -m nmt.length_penalty``: choose beam search's length penalty on val, then score test once.

Usage::

    python -m nmt.length_penalty run=<run dir> [penalties=[0.6,1.0,1.4]] [checkpoint=tested]
        [tune_split=val] [split=test] [metric=bleu] [decode.beam_size=5] [data.root=<local corpus copy>] [save=true]

The penalty α of lp(|Y|) = ((5 + |Y|) / 6)^α decides how long beam search's translations are. It
is a decoding choice like any hyper-parameter, so it is chosen on a held-out split and never on
the split that is reported: each α is scored on ``tune_split`` with ``nmt.evaluate``, the best by
``metric`` is kept (on a tie, the first listed), and ``split`` is decoded once, with that α alone.

Writes ``<out>/eval/length_penalty.json`` (or ``output=``): every α with its scores on
``tune_split``, the choice, and the scores on ``split`` with their sacreBLEU signatures, checkpoint
and config. Each decode also leaves nmt.evaluate's own hypotheses and JSON under ``<out>``.
``<out>`` is as for nmt.evaluate: ``nmt-output/<run's parent>/<run>/``, or the run folder itself
with ``save=true`` (where ``nmt.compare`` reads the choice).
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from nmt.atomic import write_json_atomic
from nmt.cli import CONF_DIR, prepare_argv
from nmt.decoding import check_max_tokens, check_workers
from nmt.errors import ConfigError, one_line_errors
from nmt.evaluation import evaluate, summary
from nmt.outputs import output_dir

METRICS = ("bleu", "bleu_lc", "chrf")


def _check(cfg: DictConfig) -> list[float]:
    """The penalties to try; every mistake in the config is caught before the first decode."""
    if cfg.decode.strategy != "beam":
        raise ConfigError(f"decode={cfg.decode.strategy}: length penalties apply to beam search only; use decode=beam")
    if cfg.get("src_file") or cfg.get("ref_file"):
        raise ConfigError("src_file/ref_file: nmt.length_penalty tunes on a split of the run's data; use tune_split=…")
    if cfg.metric not in METRICS:
        raise ConfigError(f"metric={cfg.metric}: use one of {', '.join(METRICS)}")
    if str(cfg.tune_split) == str(cfg.split):
        raise ConfigError(f"tune_split and split are both {cfg.split!r}: tune on a held-out split (tune_split=val)")
    check_workers(cfg.get("workers", 1), cfg.get("device"))
    check_max_tokens(cfg.max_tokens)
    penalties = [float(p) for p in cfg.penalties]
    if not penalties:
        raise ConfigError("penalties=[]: give the values to try, e.g. penalties=[0.6,1.0,1.4]")
    return penalties


def _one_decode(cfg: DictConfig, split: str, alpha: float) -> dict:
    """nmt.evaluate on one split with one penalty, its files at their default places."""
    one = cfg.copy()
    one.split, one.decode.length_penalty = split, alpha
    one.output = one.hypotheses = None
    return evaluate(one)


def _scores(report: dict) -> dict:
    keys = (*METRICS, "signature", "split", "sentences", "sentences_per_s", "output", "hypotheses")
    return {k: report[k] for k in keys}


def tune_length_penalty(cfg: DictConfig) -> dict:
    """Choose the length penalty on ``cfg.tune_split``, then score ``cfg.split`` once with it.

    Args:
        cfg: the ``conf/length_penalty.yaml`` config (nmt.evaluate's keys plus ``penalties``,
            ``tune_split``, ``metric``; ``output`` is where the choice is written).

    Returns:
        What ``length_penalty.json`` holds: ``tried`` (α and its scores on tune_split), ``chosen``,
        ``test`` (the scores on ``split``) and the provenance (checkpoint, decoding, config).
    """
    penalties = _check(cfg)
    tried = []
    for alpha in penalties:
        report = _one_decode(cfg, str(cfg.tune_split), alpha)
        tried.append({"length_penalty": alpha, **_scores(report)})
        print(f"length_penalty={alpha:g}: {summary(report)}", file=sys.stderr)
    chosen = max(tried, key=lambda t: t[cfg.metric])["length_penalty"]  # max keeps the first of equals
    final = _one_decode(cfg, str(cfg.split), chosen)
    result = {
        "run_dir": final["run_dir"],
        "model": final["model"],
        "data": final["data"],
        "src_lang": final["src_lang"],
        "tgt_lang": final["tgt_lang"],
        "checkpoint": final["checkpoint"],
        "averaged_checkpoints": final["averaged_checkpoints"],
        "tuned_on": str(cfg.tune_split),
        "metric": str(cfg.metric),
        "tried": tried,
        "chosen": chosen,
        "split": str(cfg.split),
        "test": {**_scores(final), "decode": final["decode"]},
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    base = output_dir(final["run_dir"], bool(cfg.get("save")))
    out = Path(cfg.output) if cfg.get("output") else base / "eval" / "length_penalty.json"
    write_json_atomic(out, result)
    result["output"] = str(out)
    return result


@hydra.main(config_path=str(CONF_DIR), config_name="length_penalty", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors("nmt.length_penalty"):
        result = tune_length_penalty(cfg)
    choice = f"length_penalty={result['chosen']:g} (best {result['metric']} on {result['tuned_on']})"
    print(f"{choice} -> {summary(result['test'])}")
    print(f"wrote {result['output']}", file=sys.stderr)


def cli() -> None:
    """The ``nmt-length-penalty`` console script (and ``python -m nmt.length_penalty``)."""
    prepare_argv("nmt.length_penalty", "length_penalty")
    main()


if __name__ == "__main__":
    cli()
