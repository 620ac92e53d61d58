"""``python -m nmt.compare``: one report comparing models trained on the same data and tokenisation.

Usage::

    python -m nmt.train -m model=rnn,transformer         # multirun/toy-en-de/<time>/{rnn-0,transformer-1}
    python -m nmt.compare multirun/toy-en-de/<time>       # -> multirun/toy-en-de/<time>/compare/
    python -m nmt.compare runs/a runs/b out=report html=true     # ≡ runs=[runs/a,runs/b] out=report …
    python -m nmt.compare runs/a runs/mine plugins=my_models     # a model registered outside nmt (README)

Every argument is a run folder (it holds ``results.json``) or a folder searched for run folders, such
as a multirun folder. Runs whose data or tokenisation differ (``data_fingerprint`` in
``results.json``) are refused: their scores are not comparable.

The report folder (``out=``; default ``<the folder given>/compare`` or ``compare/`` beside the runs)
gets ``report.md`` (``report.html`` with ``html=true``), ``comparison.json``, ``learning_curves.png``
(val BLEU against step and against wall time) and ``heatmaps.png`` (the same test sentences,
teacher-forced on their references, one column per model). Decoding speed is measured here, in one
process, greedy and with each run's own test beam, so the models are timed under the same load.
With ``copy_runs=true`` each run's provenance (``results.json``, ``config.yaml``, ``metrics.csv``,
``eval/`` and ``hypotheses/``; no checkpoints) is copied into ``<report>/<label>/``, so the report
folder stands alone, e.g. to publish it in ``docs/results/``. A run folder without checkpoints (such a
copy) is refused unless ``checkpoints=optional``: it then joins with the scores and curve its files
recorded, and its decoding speed and heatmap column are left out.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf

from nmt.api import Translator
from nmt.atomic import write_json_atomic, write_text_atomic
from nmt.attention_maps import SentenceAttention, teacher_forced
from nmt.checkpoint import LoadedRun, load_run
from nmt.cli import CONF_DIR, prepare_argv
from nmt.compared_runs import check_comparable, find_runs, load_runs
from nmt.comparison_report import PROVENANCE_DIRS, PROVENANCE_FILES, Run, html_report, markdown_report
from nmt.errors import CompareError, ConfigError, one_line_errors
from nmt.evaluation import load_eval_set
from nmt.figures import attention_heatmap, learning_curves, save_figure
from nmt.safe_load import load_run_config
from nmt.search import DecodeSettings

# --------------------------------------------------------------------------- measuring


def _load_tested(run: Run, data_root: str | None) -> tuple[LoadedRun, list[str], list[str]]:
    """The weights the run's test score came from (best or averaged) and its test split."""
    loaded = load_run(run.path, "tested")
    cfg = OmegaConf.create({"split": "test", "data": {"root": data_root}})
    _, sources, references = load_eval_set(loaded, cfg)
    return loaded, sources, references


def measure_decoding(
    loaded: LoadedRun, sources: list[str], references: list[str], beam: DecodeSettings, max_tokens: int = 4096
) -> dict[str, dict]:
    """Greedy and beam decoding of the test sources: sentences/s and the scores of each."""
    translator = Translator.from_run(loaded)
    greedy = DecodeSettings(strategy="greedy")
    searches = (("greedy", greedy), ("beam", beam))
    return {name: translator.score(sources, references, s, max_tokens).scores for name, s in searches}


def cross_attention_panel(att: SentenceAttention) -> tuple[np.ndarray, str]:
    """One (T, S) matrix per model: its single map (e.g. Bahdanau's α), or its last layer averaged over
    heads, as the model's ``attention_layout`` says.

    Shapes: att.cross (L, h, T, S) -> (T, S).
    """
    layout = att.layout
    if layout.single_map:
        return att.cross[0, 0], layout.cross_name
    return att.cross[-1].mean(axis=0), f"{layout.cross_name}, layer {layout.layers}, mean of {layout.heads} heads"


def heatmap_figure(
    panels: Sequence[Sequence[tuple[str, np.ndarray, list[str], list[str]]]],
) -> Figure:
    """Rows of sentences, one column per model; each panel (title, (T, S) weights, source, target labels)."""
    rows, cols = len(panels), len(panels[0])
    S = max(len(p[2]) for row in panels for p in row)
    T = max(len(p[3]) for row in panels for p in row)
    width = cols * min(max(3.5, 1.0 + 0.3 * S), 9.0) + 1.0
    height = rows * min(max(2.8, 1.2 + 0.28 * T), 8.0)
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for r, row in enumerate(panels):
        for c, (title, weights, src, tgt) in enumerate(row):
            attention_heatmap(weights, src, tgt, title=title, ax=axes[r, c], colorbar=False)
    fig.colorbar(axes[0, 0].images[0], ax=axes, shrink=0.5, label="attention weight")
    return fig


def curves_figure(runs: Sequence[Run]) -> Figure:
    """Val BLEU against step (left) and against wall time (right), one line per run."""
    fig = Figure(figsize=(11.0, 4.0), layout="constrained")
    by_step, by_time = fig.subplots(1, 2)
    learning_curves({r.label: [(s, b) for s, _, b in r.curve] for r in runs}, xlabel="step", ax=by_step)
    longest = max((w for r in runs for _, w, _ in r.curve if w is not None), default=0.0)
    unit, scale = ("min", 60.0) if longest > 300 else ("s", 1.0)
    timed = {r.label: [(w / scale, b) for _, w, b in r.curve if w is not None] for r in runs}
    learning_curves(timed, xlabel=f"training wall time ({unit}, validation included)", ax=by_time)
    if not all(timed.values()):
        by_time.set_title("runs without val/wall_time_s in metrics.csv are left out", fontsize=8)
    return fig


def default_out(paths: Sequence[str | Path], runs: Sequence[Path]) -> Path:
    """``<folder>/compare`` for one folder of runs, else ``compare/`` in the runs' common parent."""
    if len(paths) == 1 and not (Path(paths[0]) / "results.json").is_file():
        return Path(paths[0]) / "compare"
    return Path(os.path.commonpath([p.parent.resolve() for p in runs])) / "compare"


def copy_dest(run: Run, out_dir: Path) -> Path:
    """Where ``copy_runs`` puts a run's files: ``out_dir/<label>/``.

    A training run's own folder there (it holds ``checkpoints/``) is refused, so its files are never replaced.
    """
    dest = out_dir / (re.sub(r"[^\w.-]+", "-", run.label).strip("-") or "run")
    if (dest / "checkpoints").is_dir() and dest.resolve() != run.path.resolve():
        raise CompareError(
            f"{dest}: a run folder (it has checkpoints/), where copy_runs=true would put {run.path}'s files; "
            "choose another out="
        )
    return dest


def copy_provenance(run: Run, out_dir: Path) -> Path:
    """Copy a run's results, config, metrics, eval JSONs and hypotheses to ``out_dir/<label>/``.

    What an earlier copy left there is replaced, not merged; a run that already is that folder (a
    published report compared again into itself) stays as it is.
    """
    dest = copy_dest(run, out_dir)
    if dest.resolve() == run.path.resolve():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROVENANCE_FILES:
        (dest / name).unlink(missing_ok=True)
        if (run.path / name).is_file():
            shutil.copy2(run.path / name, dest / name)
    for name in PROVENANCE_DIRS:
        shutil.rmtree(dest / name, ignore_errors=True)
        if (run.path / name).is_dir():
            shutil.copytree(run.path / name, dest / name)
    return dest


CHECKPOINTS = ("required", "optional")


def runs_without_weights(runs: Sequence[Run], checkpoints: str, needed: bool = True) -> list[str]:
    """The labels of runs with no ``checkpoints/`` folder, e.g. a published report's copy of a run.

    When weights are ``needed`` (to decode or draw heatmaps), such runs are refused unless
    ``checkpoints=optional`` lets them in with their recorded scores and curves only.
    """
    if checkpoints not in CHECKPOINTS:
        raise ConfigError(f"checkpoints={checkpoints}: use one of {', '.join(CHECKPOINTS)}")
    missing = [run for run in runs if not (run.path / "checkpoints").is_dir()]
    if missing and needed and checkpoints == "required":
        raise CompareError(
            f"{missing[0].path}: no checkpoints/ folder (a copy of a run's files?), and compare decodes and draws "
            "attention with each run's weights; pass checkpoints=optional to report its recorded scores and "
            "curves without them"
        )
    return [run.label for run in missing]


Panels = list[list[tuple[str, np.ndarray, list[str], list[str]]]]


def _measure(
    runs: Sequence[Run],
    sentences: Sequence[int],
    decode: bool,
    decode_sentences: int | None,
    data_root: str | None,
    no_weights: Sequence[str] = (),
) -> tuple[dict[str, dict], Panels, int, list[int]]:
    """Decode each run's test split (speed and scores) and teacher-force the ``sentences`` to show.

    Runs labelled in ``no_weights`` are left out. Returns the decoding results per label, the heatmap
    panels (one row per sentence), the number of sentences decoded and the sentences shown.
    """
    decoding: dict[str, dict] = {}
    heat_rows: Panels = [[] for _ in sentences]
    n_decoded, shown = 0, []
    for run in runs:
        if not decode and not sentences:
            break
        if run.label in no_weights:
            continue
        loaded, sources, references = _load_tested(run, data_root)
        shown = [i for i in sentences if 0 <= i < len(sources)]
        if len(shown) != len(sentences):
            raise CompareError(f"sentences {list(sentences)}: the test split has {len(sources)} sentences")
        if decode:
            n = len(sources) if decode_sentences is None else min(decode_sentences, len(sources))
            beam = DecodeSettings(**run.results["test"]["decode"])
            decoding[run.label] = measure_decoding(loaded, sources[:n], references[:n], beam)
            n_decoded = n
        if shown:
            targets = loaded.vocab.encode_tgt([references[i] for i in shown])
            chosen = [sources[i] for i in shown]
            atts = teacher_forced(loaded.model, loaded.vocab, chosen, targets, self_attention=False)
            for row, att in zip(heat_rows, atts, strict=True):
                weights, what = cross_attention_panel(att)
                row.append((f"{run.label}: {what}", weights, att.src_pieces, att.tgt_pieces))
    return decoding, heat_rows, n_decoded, shown


def _summary(runs: Sequence[Run], decoding: dict[str, dict], meta: dict, out_dir: Path) -> dict:
    """What ``comparison.json`` holds."""
    return {
        "runs": [
            {
                "label": r.label,
                "path": str(r.path),
                "results": r.results,
                "curve": r.curve,
                "length_penalty": r.length_penalty,
                "copy": r.copy,
            }
            for r in runs
        ],
        "decoding": decoding,
        "meta": meta,
        "out": str(out_dir),
    }


def compare(
    paths: Sequence[str | Path],
    out: str | Path | None = None,
    sentences: Sequence[int] = (0, 1, 2),
    decode: bool = True,
    decode_sentences: int | None = None,
    data_root: str | None = None,
    html_too: bool = False,
    command: str = "nmt.compare",
    copy_runs: bool = False,
    checkpoints: str = "required",
) -> dict:
    """Compare finished runs; write the report folder and return what ``comparison.json`` holds.

    ``checkpoints="optional"`` admits runs without weights (see ``runs_without_weights``).
    """
    found = find_runs(paths)
    runs = load_runs(found)
    check_comparable(runs)
    no_weights = runs_without_weights(runs, checkpoints, needed=decode or bool(sentences))
    for run in runs:  # run folders are untrusted: refuse a bad config.yaml before writing anything
        load_run_config(run.path / "config.yaml")
    out_dir = Path(out) if out else default_out(paths, found)
    for run in runs if copy_runs else ():
        copy_dest(run, out_dir)  # refused before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    decoding, heat_rows, n_decoded, shown = _measure(runs, sentences, decode, decode_sentences, data_root, no_weights)

    if copy_runs:
        for run in runs:
            run.copy = str(copy_provenance(run, out_dir).relative_to(out_dir))
    save_figure(curves_figure(runs), out_dir / "learning_curves.png")
    if shown:
        save_figure(heatmap_figure(heat_rows), out_dir / "heatmaps.png")
    meta = {
        "command": command,
        "threads": torch.get_num_threads(),
        "sentences": n_decoded,
        "heatmaps": bool(shown),
        "sentences_shown": shown,
        "without_checkpoints": no_weights,
    }
    report = markdown_report(runs, decoding, meta)
    write_text_atomic(out_dir / "report.md", report)
    if html_too:
        write_text_atomic(out_dir / "report.html", html_report(report))
    summary = _summary(runs, decoding, meta, out_dir)
    write_json_atomic(out_dir / "comparison.json", summary)
    return summary


# The options before key=value (one more release): --flag -> (key, arity), see nmt.cli.legacy_flags.
FLAGS = {
    "--out": ("out", "1"),
    "--html": ("html", "true"),
    "--copy-runs": ("copy_runs", "true"),
    "--sentences": ("sentences", "+"),
    "--no-decode": ("time_decoding", "false"),
    "--decode-sentences": ("decode_sentences", "1"),
    "--threads": ("threads", "1"),
    "--data-root": ("data_root", "1"),
}


@hydra.main(config_path=str(CONF_DIR), config_name="compare", version_base="1.3")
def main(cfg: DictConfig) -> None:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    task = HydraConfig.get().overrides.task if HydraConfig.initialized() else []
    command = " ".join(["python -m nmt.compare", *task])
    runs = [cfg.runs] if isinstance(cfg.runs, str) else list(cfg.runs)
    with one_line_errors("nmt.compare"):
        summary = compare(
            runs, cfg.out, list(cfg.sentences or []), cfg.time_decoding, cfg.decode_sentences, cfg.data_root,
            cfg.html, command, cfg.copy_runs, cfg.checkpoints,
        )  # fmt: skip
    print(Path(summary["out"]) / "report.md")


def cli() -> None:
    """The ``nmt-compare`` console script (and ``python -m nmt.compare``)."""
    prepare_argv("nmt.compare", "compare", text_keys=("out", "data_root"), positional="runs", flags=FLAGS)
    main()


if __name__ == "__main__":
    cli()
