"""``python -m nmt.results_table``: the README's results table, rendered from published reports.

Usage::

    python -m nmt.results_table docs/results/multi30k-en-de docs/results/multi30k-de-en
    python -m nmt.results_table docs/results/multi30k-en-de docs/results/multi30k-de-en readme=README.md

Each folder is a report of ``nmt.compare`` (its ``comparison.json`` holds every run's
``results.json`` and, when ``nmt.length_penalty`` was run, the penalty chosen on val). One row per
model and direction with the run's own test scores, plus a row with the val-chosen length penalty
where it differs; then the val scores behind each choice, the sacreBLEU signatures and the hardware.

With ``readme=`` the block between ``<!-- results-table …`` and ``<!-- /results-table -->`` is
replaced (the opening marker names the folders); without it the block is printed. The test suite
renders the block again from the committed folders and compares, so the README's numbers cannot
drift from the files they came from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import hydra
from omegaconf import DictConfig

from nmt.atomic import write_text_atomic
from nmt.cli import CONF_DIR, prepare_argv
from nmt.comparison_report import METRIC_NAMES, format_penalty, signatures
from nmt.errors import CompareError, one_line_errors

# The goals the published runs were measured against: (metric, at least) per (src, tgt, model).
# de→en: 3 BLEU (lowercased) above the published tutorial figures for the same architectures.
TARGETS: dict[tuple[str, str, str], tuple[tuple[str, float], ...]] = {
    ("en", "de", "transformer"): (("bleu", 36.0), ("bleu_lc", 38.0)),
    ("en", "de", "rnn"): (("bleu_lc", 34.0),),
    ("de", "en", "transformer"): (("bleu_lc", 39.5),),
    ("de", "en", "rnn"): (("bleu_lc", 31.1),),
}
BEGIN = "<!-- results-table"
END = "<!-- /results-table -->"
HEADER = (
    "direction", "model", "length penalty", "BLEU", "BLEU (lc)", "chrF", "parameters", "training",
    "steps", "train tokens/s", "target",
)  # fmt: skip


def describe_model(results: dict) -> str:
    """A short architecture name from a run's config, e.g. ``Transformer (3+3 layers, 256 wide, 4 heads)``."""
    net = results.get("config", {}).get("model", {}).get("net", {})
    if results.get("model") == "transformer":
        return (
            f"Transformer ({net.get('enc_layers')}+{net.get('dec_layers')} layers, {net.get('d_model')} wide, "
            f"{net.get('n_heads')} heads)"
        )
    if results.get("model") == "rnn":
        layers = net.get("enc_layers", 1)
        deep = f"{layers}-layer " if layers and layers > 1 else ""
        return f"RNN ({deep}bi-GRU {net.get('hidden_dim')} + Bahdanau attention)"
    return str(results.get("model"))


def against_targets(key: tuple[str, str, str], scores: dict) -> str:
    """``≥ 36.0 ✓, ≥ 38.0 lc ✗ (−0.20)``: each target of this model and direction, met or by how much not."""
    parts = []
    for metric, goal in TARGETS.get(key, ()):
        value = round(float(scores[metric]), 2)
        name = {"bleu": "", "bleu_lc": " lc", "chrf": " chrF"}[metric]
        parts.append(f"≥ {goal:.1f}{name} " + ("✓" if value >= goal else f"✗ (−{goal - value:.2f})"))
    return ", ".join(parts) or "—"


def _row(direction: str, run: dict, lp: str, scores: dict, first: bool) -> list[str]:
    r = run["results"]
    train = r.get("train", {})
    key = (str(r.get("src_lang")), str(r.get("tgt_lang")), str(r.get("model")))
    extra = (
        [
            f"{r['params']:,}",
            f"{train['wall_time_s'] / 60:.0f} min",
            f"{train['steps']:,}",
            f"{train['tokens_per_s']:,.0f}",
        ]
        if first
        else ["", "", "", ""]
    )
    return [
        direction if first else "",
        describe_model(r) if first else "",
        lp,
        f"{scores['bleu']:.2f}",
        f"{scores['bleu_lc']:.2f}",
        f"{scores['chrf']:.2f}",
        *extra,
        against_targets(key, scores),
    ]


def rows_of(run: dict) -> list[list[str]]:
    """The run's own test scores, then (when it differs) the test scores with the penalty chosen on val."""
    r = run["results"]
    direction = f"{r.get('src_lang')}→{r.get('tgt_lang')}"
    test, tuned = r["test"], run.get("length_penalty")
    own = float(test["decode"]["length_penalty"])
    if tuned and float(tuned["chosen"]) == own:
        return [_row(direction, run, f"{format_penalty(own)} (default; chosen on {tuned['tuned_on']})", test, True)]
    rows = [_row(direction, run, f"{format_penalty(own)} (default)", test, True)]
    if tuned:
        chosen = f"{format_penalty(tuned['chosen'])} (chosen on {tuned['tuned_on']})"
        rows.append(_row(direction, run, chosen, tuned["test"], False))
    return rows


def load_reports(folders: Sequence[str | Path]) -> list[dict]:
    """Every run of each report folder's ``comparison.json``, Transformers first within a folder."""
    runs = []
    for folder in folders:
        path = Path(folder) / "comparison.json"
        if not path.is_file():
            raise CompareError(f"{path}: missing; write the report with python -m nmt.compare … out={folder}")
        try:
            found = json.loads(path.read_text(encoding="utf-8"))["runs"]
        except (OSError, ValueError, KeyError, TypeError) as err:  # JSONDecodeError is a ValueError
            raise CompareError(
                f"{path}: not a comparison.json of nmt.compare ({type(err).__name__}: {err}); write it again with "
                f"python -m nmt.compare … out={folder}"
            ) from None
        runs.extend(sorted(found, key=lambda run: run["results"].get("model") != "transformer"))
    return runs


def _notes(runs: Sequence[dict]) -> list[str]:
    lines = []
    for run in runs:
        tuned, r = run.get("length_penalty"), run["results"]
        if tuned:
            tried = " / ".join(
                f"{t[tuned['metric']]:.2f} ({format_penalty(t['length_penalty'])})" for t in tuned["tried"]
            )
            metric = METRIC_NAMES.get(tuned["metric"], tuned["metric"])
            pair = f"{r['src_lang']}→{r['tgt_lang']}"
            lines.append(f"- {pair} {r['model']}: {tuned['tuned_on']} {metric} by length penalty {tried}")
    hardware: list[str] = []
    for run in runs:
        hw = run["results"].get("hardware", {})
        versions = run["results"].get("versions", {})
        threads, torch = hw.get("threads"), versions.get("torch")
        where = f"{hw.get('platform')}, {hw.get('cpus')} CPUs, {threads} torch thread(s), torch {torch}"
        if where not in hardware:
            hardware.append(where)
    sigs_by_metric = signatures(run["results"] for run in runs)
    lines += [f"- signature {m}: " + "; ".join(f"`{s}`" for s in sigs) for m, sigs in sigs_by_metric.items()]
    lines += [f"- hardware: {h}" for h in hardware]
    return lines


def render(folders: Sequence[str | Path]) -> str:
    """The whole generated block, markers included."""
    runs = load_reports(folders)
    rows = [row for run in runs for row in rows_of(run)]
    return "\n".join(
        [
            f"{BEGIN}: python -m nmt.results_table {' '.join(map(str, folders))} readme=README.md -->",
            "| " + " | ".join(HEADER) + " |",
            "|" + "|".join("---" for _ in HEADER) + "|",
            *("| " + " | ".join(row) + " |" for row in rows),
            "",
            *_notes(runs),
            END,
        ]
    )


def readme_folders(text: str) -> list[str]:
    """The report folders named in a README's opening marker."""
    match = re.search(re.escape(BEGIN) + r": python -m nmt\.results_table (.*?) (?:--readme |readme=)\S+ -->", text)
    if not match:
        raise CompareError(f"no '{BEGIN}: python -m nmt.results_table <folders> readme=README.md -->' marker")
    return match.group(1).split()


def update_readme(readme: Path, folders: Sequence[str | Path]) -> None:
    """Replace the README's generated block (markers included) with a fresh one."""
    if not readme.is_file():
        raise CompareError(f"readme={readme}: no such file; give the README that holds the generated block")
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise CompareError(f"{readme}: no '{BEGIN} …' … '{END}' block to replace; add the two markers first")
    write_text_atomic(readme, text[:start] + render(folders) + text[end + len(END) :])


FLAGS = {"--readme": ("readme", "1")}  # the option before readme= (one more release)


@hydra.main(config_path=str(CONF_DIR), config_name="results_table", version_base="1.3")
def main(cfg: DictConfig) -> None:
    folders = [cfg.folders] if isinstance(cfg.folders, str) else list(cfg.folders)
    with one_line_errors("nmt.results_table"):
        if cfg.readme:
            update_readme(Path(cfg.readme), folders)
        else:
            print(render(folders))


def cli() -> None:
    """The ``nmt-results-table`` console script (and ``python -m nmt.results_table``)."""
    prepare_argv("nmt.results_table", "results_table", text_keys=("readme",), positional="folders", flags=FLAGS)
    main()


if __name__ == "__main__":
    cli()
