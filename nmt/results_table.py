"""``python -m nmt.results_table``: the README's results table, rendered from published reports.

Usage::

    python -m nmt.results_table docs/results/multi30k-en-de docs/results/multi30k-de-en
    python -m nmt.results_table docs/results/multi30k-en-de docs/results/multi30k-de-en readme=README.md
    python -m nmt.results_table docs/results/multi30k-en-de reference=published.csv

Each folder is a report of ``nmt.compare`` (its ``comparison.json`` holds every run's
``results.json`` and, when ``nmt.length_penalty`` was run, the penalty chosen on val). One row per
model and direction with the run's own test scores, plus a row with the val-chosen length penalty
where it differs; then the val scores behind each choice, the sacreBLEU signatures and the hardware.
The table reports results only; ``reference=<csv|json>`` adds a column of the user's own figures
to read them against (e.g. published scores), one per (src, tgt, model): see ``read_reference``.

With ``readme=`` the block between ``<!-- results-table …`` and ``<!-- /results-table -->`` is
replaced (the opening marker names the folders); without it the block is printed. The test suite
renders the block again from the committed folders and compares, so the README's numbers cannot
drift from the files they came from.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from pathlib import Path

import hydra
from omegaconf import DictConfig

from nmt.atomic import write_text_atomic
from nmt.cli import CONF_DIR, prepare_argv
from nmt.comparison_report import METRIC_NAMES, format_penalty, signatures, training_precision
from nmt.errors import CompareError, one_line_errors
from nmt.models.registry import model_class

BEGIN = "<!-- results-table"
END = "<!-- /results-table -->"
HEADER = (
    "direction", "model", "length penalty", "BLEU", "BLEU (lc)", "chrF", "parameters", "training",
    "steps", "train tokens/s",
)  # fmt: skip


def describe_model(results: dict) -> str:
    """The model's own short description of its config (``Seq2Seq.describe``), e.g. ``Transformer (3+3 layers, …)``.

    The class is looked up by the config's ``_target_`` among the registered models only (nothing is
    imported from a report); an unknown one is described by the run's model name.
    """
    net = results.get("config", {}).get("model", {}).get("net", {})
    cls = model_class(str(net.get("_target_")))
    return cls.describe(net) if cls is not None else str(results.get("model"))


def read_reference(path: str | Path) -> dict[tuple[str, str, str], str]:
    """A user's reference column: (source language, target language, model name) -> the text to show.

    The file is a CSV with the columns ``src,tgt,model,reference``, or a JSON list of objects with those
    keys, e.g. ``{"src": "en", "tgt": "de", "model": "rnn", "reference": "34.0 (lc, tutorial)"}``.

    Raises:
        CompareError: the file is missing, unreadable or lacks one of those columns.
    """
    path = Path(path)
    keys = ("src", "tgt", "model", "reference")
    try:
        text = path.read_text(encoding="utf-8")
        rows = json.loads(text) if path.suffix == ".json" else list(csv.DictReader(io.StringIO(text)))
        return {(str(r["src"]), str(r["tgt"]), str(r["model"])): str(r["reference"]) for r in rows}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CompareError(
            f"reference={path}: not a readable reference table ({type(err).__name__}: {err}); give a CSV with the "
            f"columns {','.join(keys)} or a JSON list of objects with those keys"
        ) from None


def _training(r: dict) -> str:
    """Training minutes and, where the saved config has it, the precision: "90 min, bf16 mixed"."""
    minutes = f"{r['train']['wall_time_s'] / 60:.0f} min"
    precision = training_precision(r)
    return minutes if precision is None else f"{minutes}, {precision}"


def _row(direction: str, run: dict, lp: str, scores: dict, first: bool) -> list[str]:
    r = run["results"]
    train = r.get("train", {})
    extra = (
        [
            f"{r['params']:,}",
            _training(r),
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
        cpu = f"{hw['cpu_model']}, " if hw.get("cpu_model") else ""
        where = f"{hw.get('platform')}, {cpu}{hw.get('cpus')} CPUs, {threads} torch thread(s), torch {torch}"
        if where not in hardware:
            hardware.append(where)
    sigs_by_metric = signatures(run["results"] for run in runs)
    lines += [f"- signature {m}: " + "; ".join(f"`{s}`" for s in sigs) for m, sigs in sigs_by_metric.items()]
    lines += [f"- hardware: {h}" for h in hardware]
    return lines


def render(folders: Sequence[str | Path], reference: str | Path | None = None) -> str:
    """The whole generated block, markers included; with ``reference`` (``read_reference``) one more column."""
    runs = load_reports(folders)
    header, rows = list(HEADER), [row for run in runs for row in rows_of(run)]
    args = " ".join(map(str, folders))
    if reference is not None:
        given = read_reference(reference)
        header.append("reference")
        keys = [_key(run["results"]) for run in runs for _ in rows_of(run)]
        firsts = [row[0] != "" for row in rows]
        rows = [
            [*row, given.get(key, "—") if first else ""] for row, key, first in zip(rows, keys, firsts, strict=True)
        ]
        args += f" reference={reference}"
    return "\n".join(
        [
            f"{BEGIN}: python -m nmt.results_table {args} readme=README.md -->",
            "| " + " | ".join(header) + " |",
            "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(row) + " |" for row in rows),
            "",
            *_notes(runs),
            END,
        ]
    )


def _key(results: dict) -> tuple[str, str, str]:
    return str(results.get("src_lang")), str(results.get("tgt_lang")), str(results.get("model"))


def readme_args(text: str) -> tuple[list[str], str | None]:
    """The report folders and the reference file (or None) named in a README's opening marker."""
    pattern = re.escape(BEGIN) + r": python -m nmt\.results_table (.*?) (?:--readme |readme=)\S+ -->"
    match = re.search(pattern, text)
    if not match:
        raise CompareError(f"no '{BEGIN}: python -m nmt.results_table <folders> readme=README.md -->' marker")
    folders, reference = match.group(1), None
    found = re.search(r" (?:--reference |reference=)(\S+)", folders)
    if found:
        folders, reference = folders[: found.start()], found.group(1)
    return folders.split(), reference


def readme_folders(text: str) -> list[str]:
    """The report folders named in a README's opening marker."""
    return readme_args(text)[0]


def update_readme(readme: Path, folders: Sequence[str | Path], reference: str | Path | None = None) -> None:
    """Replace the README's generated block (markers included) with a fresh one."""
    if not readme.is_file():
        raise CompareError(f"readme={readme}: no such file; give the README that holds the generated block")
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise CompareError(f"{readme}: no '{BEGIN} …' … '{END}' block to replace; add the two markers first")
    write_text_atomic(readme, text[:start] + render(folders, reference) + text[end + len(END) :])


FLAGS = {"--readme": ("readme", "1"), "--reference": ("reference", "1")}  # the options before key= (one more release)


@hydra.main(config_path=str(CONF_DIR), config_name="results_table", version_base="1.3")
def main(cfg: DictConfig) -> None:
    folders = [cfg.folders] if isinstance(cfg.folders, str) else list(cfg.folders)
    with one_line_errors("nmt.results_table"):
        if cfg.readme:
            update_readme(Path(cfg.readme), folders, cfg.reference)
        else:
            print(render(folders, cfg.reference))


def cli() -> None:
    """The ``nmt-results-table`` console script (and ``python -m nmt.results_table``)."""
    prepare_argv(
        "nmt.results_table", "results_table", text_keys=("readme", "reference"), positional="folders", flags=FLAGS
    )
    main()


if __name__ == "__main__":
    cli()
