"""python -m nmt.compare: the side-by-side report of runs on the same data."""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_command, tiny_overrides

from nmt.compare import CompareError, compare
from nmt.comparison_report import durations

pytestmark = pytest.mark.usefixtures("one_thread")
PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG and path.stat().st_size > 5000


def _words(page: str) -> list[str]:
    """The visible words of an HTML page's body (image alt texts included)."""
    body = page.split("<body>", 1)[1]
    body = re.sub(r'<img src="[^"]*" alt="([^"]*)"[^>]*>', r" \1 ", body)
    body = re.sub(r"</?(code|strong|em)>", "", body)  # inline: part of the word around it
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", body)).split()


def _markdown_words(text: str) -> list[str]:
    """The words a reader sees in Markdown: no table rules, pipes, emphasis, backticks, heading or list marks."""
    text = re.sub(r"^\|(---\|)+$", " ", text, flags=re.M)
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r" \1 ", text)
    text = re.sub(r"^(#+|-) ", " ", text, flags=re.M)
    text = "\n".join(line.replace("|", " ") if line.startswith("|") else line for line in text.splitlines())
    return text.replace("**", "").replace("`", "").split()


def test_durations_share_one_unit_per_column():
    assert durations([293.0, 560.0, None]) == ("min", ["4.9", "9.3", "—"])
    assert durations([12.4, 290.0]) == ("s", ["12", "290"])


def test_report_of_two_models(transformer_run, rnn_run, tmp_path):
    summary = compare([transformer_run, rnn_run], out=tmp_path / "report", sentences=[0, 3], html_too=True)
    out = tmp_path / "report"
    for name in ("learning_curves.png", "heatmaps.png"):
        assert _is_png(out / name), name
    report = (out / "report.md").read_text(encoding="utf-8")
    html = (out / "report.html").read_text(encoding="utf-8")
    for run in (transformer_run, rnn_run):
        results = json.loads((run / "results.json").read_text())
        row = next(line for line in report.splitlines() if line.startswith(f"| {results['model']} |"))
        assert f"{results['params']:,}" in row and f"{results['test']['bleu']:.2f} (beam 3)" in row
        assert results["test"]["signature"]["bleu"] in report and results["test"]["signature"]["chrf"] in report
        assert str(run) in report and f"<td>{results['model']}</td>" in html
        assert "CPUAccelerator, trained in fp32" in report  # the tiny runs train in 32-true
        # compare decodes the test split again with the run's beam: it must reproduce the run's score
        decoding = summary["decoding"][results["model"]]
        assert decoding["beam"]["bleu"] == results["test"]["bleu"]
        assert decoding["greedy"]["sentences"] == decoding["beam"]["sentences"] == 24
        assert decoding["greedy"]["sentences_per_s"] > 0
    assert "![attention heatmaps](heatmaps.png)" in report and "sentences 0, 3 of the test split" in report
    assert _words(html) == _markdown_words(report)
    assert "<h2>Runs</h2>" in html and "<code>" in html and "`" not in html
    assert '<img src="heatmaps.png" alt="attention heatmaps"' in html
    curves = {r["label"]: r["curve"] for r in summary["runs"]}
    assert len(curves["transformer"]) == 40 and len(curves["rnn"]) == 20  # one point per validation
    assert all(wall is not None for _, wall, _ in curves["rnn"])


def test_runs_on_different_data_are_refused(transformer_run, rnn_run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(rnn_run, other)
    results = json.loads((other / "results.json").read_text())
    results["data_fingerprint"] = "0" * 64
    (other / "results.json").write_text(json.dumps(results))
    with pytest.raises(CompareError, match="differ in data or tokenisation") as err:
        compare([transformer_run, other], out=tmp_path / "report", decode=False, sentences=[])
    assert str(other) in str(err.value) and "000000000000" in str(err.value)
    assert "corpus files changed" in str(err.value)
    assert not (tmp_path / "report" / "report.md").exists()


def test_refusal_names_the_differing_settings(transformer_run, rnn_run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(rnn_run, other)
    results = json.loads((other / "results.json").read_text())
    size = results["config"]["data"]["vocab"]["size"]
    results["config"]["data"]["vocab"]["size"] = size + 7
    results["config"]["data"]["corpus"]["n_train"] = 3000  # a setting the other run does not have
    results["config"]["data"]["max_tokens"] = 5  # a batching choice, not data: not named
    results["data_fingerprint"] = "0" * 64
    (other / "results.json").write_text(json.dumps(results))
    with pytest.raises(CompareError) as err:
        compare([transformer_run, other], out=tmp_path / "report", decode=False, sentences=[])
    message = str(err.value)
    assert f"data.vocab.size: {size} vs {size + 7}" in message and "data.corpus.n_train: (unset) vs 3000" in message
    assert "max_tokens" not in message and "\n" not in message


def test_folder_errors_are_one_line(transformer_run, tmp_path, capsys, monkeypatch):
    for args, message in (
        ([str(tmp_path)], "no finished run folder"),
        ([str(transformer_run)], "compare needs two or more"),
        ([str(tmp_path / "missing"), str(transformer_run)], "no such folder"),
    ):
        assert run_command("nmt.compare", args, monkeypatch) == 2
        err = capsys.readouterr().err
        assert err.startswith("nmt.compare: error: ") and err.count("\n") == 1
        assert message in err


def test_multirun_trains_both_models_then_compares(reverse_corpus, cache_dir, tmp_path):
    """The README's two commands: a Hydra multirun over both models, then one report of the sweep."""
    keep = ("data", "cache_dir", "trainer.enable_progress_bar")
    shared = [o for o in tiny_overrides(reverse_corpus, cache_dir, "rnn") if o.startswith(keep)]
    sweep = tmp_path / "sweep"
    env = {"PATH": str(Path(sys.executable).parent), "OMP_NUM_THREADS": "1", "HOME": str(tmp_path)}
    trained = subprocess.run(
        [sys.executable, "-m", "nmt.train", "-m", "model=rnn,transformer", *shared, "trainer.max_epochs=2",
         "decode=greedy", "callbacks.heatmaps=null", "threads=1", f"hydra.sweep.dir={sweep}"],
        capture_output=True, text=True, env=env, cwd=Path(__file__).parents[1],
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-2000:]
    runs = sorted(p.parent for p in sweep.glob("*/results.json"))
    assert [p.name for p in runs] == ["0-rnn", "1-transformer"]
    results = [json.loads((p / "results.json").read_text()) for p in runs]
    assert results[0]["data_fingerprint"] == results[1]["data_fingerprint"]
    assert results[0]["config"]["seed"] == results[1]["config"]["seed"]
    done = subprocess.run(
        [sys.executable, "-m", "nmt.compare", str(sweep), "decode_sentences=5", "sentences=[1]"],
        check=True, capture_output=True, text=True, env=env, cwd=Path(__file__).parents[1],
    )  # fmt: skip
    assert done.stdout.strip() == str(sweep / "compare" / "report.md")
    report = (sweep / "compare" / "report.md").read_text(encoding="utf-8")
    assert "| rnn |" in report and "| transformer |" in report and "on 5 test sentences" in report
    assert _is_png(sweep / "compare" / "heatmaps.png")


def test_copy_runs_makes_a_report_folder_that_stands_alone(transformer_run, rnn_run, tmp_path):
    """copy_runs: each run's results, config, metrics, eval/ and hypotheses/ beside the report, no weights."""
    tuned_run = Path(shutil.copytree(transformer_run, tmp_path / "tf"))
    tuned = {
        "metric": "bleu", "tuned_on": "val", "split": "test", "chosen": 1.0,
        "tried": [{"length_penalty": 0.6, "bleu": 40.0}, {"length_penalty": 1.0, "bleu": 41.5}],
        "test": {"bleu": 39.25, "bleu_lc": 39.5, "chrf": 60.0, "decode": {"beam_size": 3}},
    }  # fmt: skip
    (tuned_run / "eval").mkdir(exist_ok=True)
    (tuned_run / "eval" / "length_penalty.json").write_text(json.dumps(tuned))
    out = tmp_path / "published"
    summary = compare([tuned_run, rnn_run], out=out, decode=False, sentences=[], copy_runs=True)
    for label in ("transformer", "rnn"):
        copy = out / label
        for name in ("results.json", "config.yaml", "metrics.csv", "hypotheses/test.txt"):
            assert (copy / name).is_file(), (label, name)
        assert not list(copy.rglob("*.ckpt")) and not (copy / "checkpoints").exists()
    assert (out / "transformer" / "eval" / "length_penalty.json").is_file()
    runs = {r["label"]: r for r in summary["runs"]}
    assert runs["transformer"]["copy"] == "transformer" and runs["transformer"]["length_penalty"] == tuned
    assert runs["rnn"]["length_penalty"] is None
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "length penalty chosen on val (BLEU, beam 3): 0.6 → 40.00, **1.0** → 41.50" in report
    assert "test with 1.0: BLEU 39.25, BLEU (lc) 39.50, chrF 60.00" in report
    assert "files: `rnn/`" in report
    # comparison.json says where each run's files went
    assert json.loads((out / "comparison.json").read_text())["runs"][0]["copy"] == "transformer"


def test_a_published_copy_joins_a_new_report_with_checkpoints_optional(
    transformer_run, rnn_run, tmp_path, capsys, monkeypatch
):
    """A report's copy of a run (no weights) is refused by default; with checkpoints=optional it joins
    with its recorded scores and curve, is neither decoded nor drawn, and re-publishing into the same
    report folder leaves its files as they are while a new run's copy replaces the old one's."""
    out = tmp_path / "published"
    compare([transformer_run, rnn_run], out=out, decode=False, sentences=[], copy_runs=True)
    stale = out / "transformer" / "hypotheses" / "from-an-older-run.txt"
    stale.write_text("an older transformer's hypotheses\n", encoding="utf-8")
    kept = {p: p.read_bytes() for p in (out / "rnn").rglob("*") if p.is_file()}

    args = [str(transformer_run), str(out / "rnn"), f"out={out}"]
    assert run_command("nmt.compare", args, monkeypatch) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out / 'rnn'}: no checkpoints/ folder" in err and "checkpoints=optional" in err
    assert run_command("nmt.compare", [*args, "checkpoints=maybe"], monkeypatch) == 2
    assert "checkpoints=maybe: use one of required, optional" in capsys.readouterr().err
    nothing_measured = compare([transformer_run, out / "rnn"], out=tmp_path / "scores", decode=False, sentences=[])
    assert nothing_measured["meta"]["without_checkpoints"] == ["rnn"]  # no weights needed: not refused

    summary = compare(
        [transformer_run, out / "rnn"], out=out, sentences=[0], copy_runs=True, checkpoints="optional",
        decode_sentences=4,
    )  # fmt: skip
    assert list(summary["decoding"]) == ["transformer"] and summary["meta"]["without_checkpoints"] == ["rnn"]
    assert _is_png(out / "heatmaps.png")  # the transformer's column only
    report = (out / "report.md").read_text(encoding="utf-8")
    recorded = json.loads((rnn_run / "results.json").read_text())
    row = next(line for line in report.splitlines() if line.startswith("| rnn |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert f"{recorded['test']['bleu']:.2f} (beam 3)" in cells and cells[-3:] == ["—", "—", "—"]
    assert "No checkpoints in the folder of **rnn**" in report and "measured by `nmt.compare` on 4 test" in report
    assert {p: p.read_bytes() for p in (out / "rnn").rglob("*") if p.is_file()} == kept
    assert not stale.exists() and (out / "transformer" / "hypotheses" / "test.txt").is_file()
    curves = {r["label"]: r["curve"] for r in summary["runs"]}
    assert len(curves["rnn"]) == 20  # from the copy's metrics.csv


def test_copy_runs_never_writes_over_a_run_folder(transformer_run, rnn_run, tmp_path):
    """out=<a folder of runs> whose transformer/ is another training run: refused before anything is written."""
    runs = tmp_path / "runs"
    other = Path(shutil.copytree(transformer_run, runs / "transformer"))
    before = {p: p.read_bytes() for p in other.rglob("*") if p.is_file()}
    fresh = Path(shutil.copytree(transformer_run, tmp_path / "fresh"))
    with pytest.raises(CompareError, match="a run folder \\(it has checkpoints/\\).*choose another out="):
        compare([fresh, rnn_run], out=runs, decode=False, sentences=[], copy_runs=True)
    assert {p: p.read_bytes() for p in other.rglob("*") if p.is_file()} == before
    assert not (runs / "report.md").exists() and not (runs / "rnn").exists()


def test_an_interrupted_run_is_refused_with_its_resume_command(transformer_run, rnn_run, tmp_path, capsys, monkeypatch):
    """results.json of a stopped run has no test scores: compare and checkpoint=tested say how to finish it."""
    from nmt.checkpoint import CheckpointError, load_run

    stopped = tmp_path / "stopped"
    shutil.copytree(transformer_run, stopped)
    results = json.loads((stopped / "results.json").read_text(encoding="utf-8"))
    del results["test"]
    results.update(status="interrupted", resume_command=f"python -m nmt.train resume={stopped}")
    (stopped / "results.json").write_text(json.dumps(results), encoding="utf-8")
    assert run_command("nmt.compare", [str(stopped), str(rnn_run)], monkeypatch) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is interrupted" in err and f"python -m nmt.train resume={stopped}" in err
    with pytest.raises(CheckpointError, match="checkpoint=tested needs a finished run"):
        load_run(stopped, "tested")
    assert load_run(stopped, "last").checkpoint.name == "last.ckpt"
