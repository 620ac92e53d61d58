"""The run folders ``nmt.compare`` reads: found under the paths given, loaded, and checked comparable.

A run folder holds ``results.json`` (a finished ``nmt.train`` run, or a copy of its provenance such as
a published report's ``<label>/`` folder); runs trained on different data or tokenisation are refused.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from nmt.checkpoint import unfinished_reason
from nmt.comparison_report import Run
from nmt.errors import CompareError


def find_runs(paths: Sequence[str | Path]) -> list[Path]:
    """Run folders: each path that holds ``results.json``, else every run folder found below it."""
    found: list[Path] = []
    for given in paths:
        path = Path(given).expanduser()
        if not path.is_dir():
            raise CompareError(f"{path}: no such folder; pass run folders of nmt.train or a multirun folder")
        if (path / "results.json").is_file():
            found.append(path)
            continue
        below = sorted(p.parent for p in path.rglob("results.json") if "compare" not in p.parent.parts)
        if not below:
            unfinished = sorted(p.parent for p in path.rglob("config.yaml") if (p.parent / "checkpoints").is_dir())
            hint = f" ({len(unfinished)} run(s) without results.json: training did not finish)" if unfinished else ""
            raise CompareError(f"{path}: no finished run folder (with results.json) in it{hint}; train first")
        found.extend(below)
    unique = list({p.resolve(): p for p in reversed(found)}.values())[::-1]  # first spelling of each folder
    if len(unique) < 2:
        where = ", ".join(map(str, paths))
        raise CompareError(f"found {len(unique)} run folder(s) in {where}; compare needs two or more")
    return unique


def read_curve(metrics_csv: Path) -> list[tuple[int, float | None, float]]:
    """(step, wall seconds, val BLEU) of every validation logged in a run's ``metrics.csv``.

    The wall time is None for runs trained before ``val/wall_time_s`` was logged.
    """
    if not metrics_csv.is_file():
        return []
    points = []
    with metrics_csv.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("val/bleu"):
                wall = row.get("val/wall_time_s")
                points.append((int(row["step"]), float(wall) if wall else None, float(row["val/bleu"])))
    return points


def _read_length_penalty(path: Path) -> dict | None:
    """The run's ``eval/length_penalty.json`` (written by nmt.length_penalty), or None."""
    tuned = path / "eval" / "length_penalty.json"
    if not tuned.is_file():
        return None
    try:
        return json.loads(tuned.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise CompareError(f"{tuned}: unreadable ({err}); re-run nmt.length_penalty run={path} save=true") from None


def load_runs(paths: Sequence[Path]) -> list[Run]:
    runs = []
    for path in paths:
        try:
            results = json.loads((path / "results.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise CompareError(f"{path / 'results.json'}: unreadable ({err}); re-run nmt.train for this run") from None
        unfinished = unfinished_reason(results)
        if unfinished:
            raise CompareError(f"{path}: {unfinished}, then compare it")
        runs.append(
            Run(path, results, curve=read_curve(path / "metrics.csv"), length_penalty=_read_length_penalty(path))
        )
    models = [r.model for r in runs]
    for run in runs:  # the model name, or the folder name when two runs share a model
        run.label = run.model if models.count(run.model) == 1 else f"{run.model} ({run.path.name})"
    return runs


# config.data keys that choose training batches, not data or tokenisation (not part of data_fingerprint)
NOT_DATA = ("max_tokens", "eval_max_tokens", "max_len", "num_workers", "sampling")


def _flat(tree: object, prefix: str) -> dict[str, object]:
    """A nested mapping as dotted keys, e.g. {"data.corpus.n_train": 20000}."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, object] = {}
    for key, value in tree.items():
        out.update(_flat(value, f"{prefix}.{key}"))
    return out


def differing_settings(runs: Sequence[Run]) -> list[str]:
    """The ``config.data`` settings (vocab included) that differ between runs, as "key: a vs b".

    Empty when the settings agree (the corpus files themselves changed between trainings).
    """
    flats = [_flat(r.results.get("config", {}).get("data", {}), "data") for r in runs]
    keys = sorted(set().union(*flats))
    lines = []
    for key in keys:
        if key.split(".")[1] in NOT_DATA:
            continue
        values = [flat.get(key, "(unset)") for flat in flats]
        if len({json.dumps(v, sort_keys=True, default=str) for v in values}) > 1:
            lines.append(f"{key}: {' vs '.join(str(v) for v in values)}")
    return lines


def check_comparable(runs: Sequence[Run]) -> None:
    """Refuse runs trained on different data or tokenisation (their ``data_fingerprint`` differs),
    naming the settings that differ."""
    fingerprints = {r.results.get("data_fingerprint") for r in runs}
    if None in fingerprints:
        missing = [str(r.path) for r in runs if r.results.get("data_fingerprint") is None]
        raise CompareError(f"no data_fingerprint in results.json of {', '.join(missing)}; re-run nmt.train for it")
    if len(fingerprints) > 1:
        settings = differing_settings(runs)
        prints = " vs ".join(str(r.results.get("data_fingerprint"))[:12] for r in runs)
        what = (
            "; ".join(settings)
            if settings
            else f"same data settings but different text (fingerprint {prints}): the corpus files changed"
        )
        raise CompareError(
            f"these runs differ in data or tokenisation, so their scores are not comparable: {what} "
            f"(runs {', '.join(str(r.path) for r in runs)}). "
            "Train them with the same data config (e.g. python -m nmt.train -m model=rnn,transformer)"
        )
