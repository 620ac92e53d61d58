"""The Markdown and HTML of ``nmt.compare``'s report: one table row per run, signatures, provenance."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from nmt.anytime import anytime_table


@dataclass
class Run:
    """One finished run folder: its ``results.json`` and its validation curve from ``metrics.csv``."""

    path: Path
    results: dict
    label: str = ""
    # (step, wall seconds or None, val BLEU) after each validation, in training order.
    curve: list[tuple[int, float | None, float]] = field(default_factory=list)
    # nmt.length_penalty's eval/length_penalty.json, when the run has one.
    length_penalty: dict | None = None
    # Where copy_runs=true put the run's provenance, relative to the report folder.
    copy: str | None = None

    @property
    def model(self) -> str:
        return str(self.results.get("model", self.path.name))


def _fmt(x: Any, digits: int = 2) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


METRIC_NAMES = {"bleu": "BLEU", "bleu_lc": "BLEU (lc)", "chrf": "chrF"}
# What a published report keeps of each run (nmt.compare copy_runs=true): what its scores came from, no weights.
PROVENANCE_FILES = ("results.json", "config.yaml", "metrics.csv")
PROVENANCE_DIRS = ("eval", "hypotheses")


def format_penalty(alpha: float) -> str:
    """A length penalty as written in tables: ``0.6``, ``1.0``, ``0.65``."""
    text = f"{alpha:g}"
    return text if "." in text or "e" in text else f"{alpha:.1f}"


def durations(seconds: Sequence[float | None]) -> tuple[str, list[str]]:
    """One unit for a whole column: (unit, cells); minutes when any value reaches 5 minutes, else seconds."""
    minutes = any(s is not None and s >= 300 for s in seconds)
    unit, scale, digits = ("min", 60.0, 1) if minutes else ("s", 1.0, 0)
    return unit, ["—" if s is None else f"{s / scale:,.{digits}f}" for s in seconds]


def table_rows(runs: Sequence[Run], decoding: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    """The comparison table: a header and one row per run (units in the header, one per column)."""
    time_unit, times = durations([run.results.get("train", {}).get("wall_time_s") for run in runs])
    header = [
        "model", "parameters", f"train time ({time_unit})", "train tokens/s", "steps / epochs", "best val BLEU",
        "test BLEU", "test BLEU (lc)", "test chrF", "tested weights", "greedy BLEU", "greedy sent/s",
        "beam sent/s",
    ]  # fmt: skip
    rows = []
    for run, time in zip(runs, times, strict=True):
        r, dec = run.results, decoding.get(run.label, {})
        train, test = r.get("train", {}), r.get("test", {})
        beam = test.get("decode", {})
        beam_name = f"beam {beam.get('beam_size')}" if beam.get("strategy") == "beam" else beam.get("strategy", "?")
        rows.append([
            run.label,
            _fmt(r.get("params")),
            time,
            _fmt(train.get("tokens_per_s"), 0),
            f"{_fmt(train.get('steps'))} / {_fmt(train.get('epochs_done', train.get('epochs')))}",
            _fmt(r.get("val", {}).get("bleu")),
            f"{_fmt(test.get('bleu'))} ({beam_name})",
            _fmt(test.get("bleu_lc")),
            _fmt(test.get("chrf")),
            str(r.get("tested_weights", {}).get("checkpoint", r.get("best_checkpoint", "?"))),
            _fmt(dec.get("greedy", {}).get("bleu")),
            _fmt(dec.get("greedy", {}).get("sentences_per_s"), 1),
            _fmt(dec.get("beam", {}).get("sentences_per_s"), 1),
        ])  # fmt: skip
    return header, rows


def signatures(results: Iterable[dict]) -> dict[str, list[str]]:
    """Each metric's distinct sacreBLEU signatures over runs' ``results.json`` (one each when comparable)."""
    out: dict[str, list[str]] = {}
    for r in results:
        for metric, sig in r.get("test", {}).get("signature", {}).items():
            out.setdefault(metric, [])
            if sig not in out[metric]:
                out[metric].append(sig)
    return out


PRECISIONS = {"32-true": "fp32", "32": "fp32", "bf16-mixed": "bf16 mixed", "16-mixed": "fp16 mixed", "64-true": "fp64"}


def training_precision(results: dict) -> str | None:
    """The precision a run trained in, from the config its results.json saved ("bf16 mixed"); None when absent."""
    precision = ((results.get("config") or {}).get("trainer") or {}).get("precision")
    return None if precision is None else PRECISIONS.get(str(precision), str(precision))


def _provenance(run: Run) -> list[str]:
    r = run.results
    hw = r.get("hardware", {})
    test = r.get("test", {})
    return [
        f"run folder `{run.path}`; config `{run.path / 'config.yaml'}`",
        f"tested weights: {r.get('tested_weights', {}).get('checkpoint', r.get('best_checkpoint'))}",
        f"test decoding: {json.dumps(test.get('decode', {}))}",
        f"hardware: {hw.get('platform')}, {hw.get('cpu_model', 'CPU model not recorded')}, {hw.get('cpus')} CPUs, "
        f"{hw.get('threads')} torch threads, "
        f"{hw.get('accelerator')}, trained in {training_precision(r) or 'a precision not recorded'}",
        *([_length_penalty_line(run.length_penalty)] if run.length_penalty else []),
        *([f"files: `{run.copy}/` ({_copied}; no checkpoints)"] if run.copy else []),
    ]


_copied = ", ".join([*PROVENANCE_FILES, *(f"{d}/" for d in PROVENANCE_DIRS)])


def _length_penalty_line(tuned: dict) -> str:
    """nmt.length_penalty's choice: each penalty's score on the tuning split, then the test scores."""
    metric, chosen = tuned["metric"], tuned["chosen"]
    tried = ", ".join(
        (
            f"**{format_penalty(t['length_penalty'])}**"
            if t["length_penalty"] == chosen
            else format_penalty(t["length_penalty"])
        )
        + f" → {t[metric]:.2f}"
        for t in tuned["tried"]
    )
    test = tuned["test"]
    return (
        f"length penalty chosen on {tuned['tuned_on']} ({METRIC_NAMES.get(metric, metric)}, beam "
        f"{test['decode']['beam_size']}): {tried}; {tuned['split']} with {format_penalty(chosen)}: "
        f"BLEU {test['bleu']:.2f}, BLEU (lc) {test['bleu_lc']:.2f}, chrF {test['chrf']:.2f}"
    )


def markdown_report(runs: Sequence[Run], decoding: dict[str, dict], meta: dict) -> str:
    header, rows = table_rows(runs, decoding)
    first = runs[0].results
    lines = [
        f"# {' vs '.join(r.label for r in runs)}: {first.get('data')} {first.get('src_lang')}→{first.get('tgt_lang')}",
        "",
        f"Same data and tokenisation (fingerprint `{str(first.get('data_fingerprint'))[:16]}…`). Test split "
        f"scores from each run's `results.json`; {_measured(meta)}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        *_without_checkpoints(meta.get("without_checkpoints") or []),
        "sacreBLEU signatures:",
        "",
    ]
    for metric, sigs in signatures(r.results for r in runs).items():
        warn = " **(differ: these scores are not comparable)**" if len(sigs) > 1 else ""
        lines.append(f"- {metric}: " + "; ".join(f"`{s}`" for s in sigs) + warn)
    lines += ["", "![learning curves](learning_curves.png)", ""]
    lines += _anytime_lines(runs)
    if meta.get("heatmaps"):
        lines += [
            "Attention on the same test sentences, teacher-forced on the reference "
            f"(sentences {', '.join(map(str, meta['sentences_shown']))} of the test split):",
            "",
            "![attention heatmaps](heatmaps.png)",
            "",
        ]
    lines += ["## Runs", ""]
    for run in runs:
        lines += [f"**{run.label}**", "", *(f"- {p}" for p in _provenance(run)), ""]
    lines += [f"Written by `{meta['command']}`.", ""]
    return "\n".join(lines)


def _measured(meta: dict) -> str:
    """Where the greedy BLEU and decoding speed columns come from."""
    if not meta["sentences"]:
        return "greedy BLEU and decoding speed not measured."
    return (
        f"greedy BLEU and decoding speed measured by `nmt.compare` on {meta['sentences']} test sentences, "
        f"{meta['threads']} torch thread(s), one model at a time."
    )


def _without_checkpoints(labels: Sequence[str]) -> list[str]:
    """The note on runs compared from their files alone (``checkpoints=optional``)."""
    if not labels:
        return []
    names = ", ".join(f"**{label}**" for label in labels)
    its, s = ("their", "s") if len(labels) > 1 else ("its", "")
    return [
        f"No checkpoints in the folder{s} of {names}: {its} scores, settings and learning curve{s} are those "
        f"{its} files recorded, and {its} greedy BLEU, decoding speed and attention heatmap{s} are not measured here.",
        "",
    ]


def _anytime_lines(runs: Sequence[Run]) -> list[str]:
    """The table of the best val BLEU each run had reached by a given training time (nmt.anytime)."""
    table = anytime_table({run.label: run.curve for run in runs})
    if table is None:
        return []
    header, rows = table
    return [
        "Best val BLEU reached by a given training wall time (validation included), read from each run's "
        "`metrics.csv`: what a shorter budget would have given.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
    ]


def html_report(markdown: str) -> str:
    """``report.md`` as a standalone HTML page, rendered by markdown-it (CommonMark + tables).

    The page carries the same text as the Markdown: raw HTML in run labels or paths is escaped, not run.
    """
    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    title = next((line[2:] for line in markdown.splitlines() if line.startswith("# ")), "nmt.compare report")
    return (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:80em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.3em .6em}img{max-width:100%}</style></head>\n"
        f"<body>\n{renderer.render(markdown)}</body></html>\n"
    )
