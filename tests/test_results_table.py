"""nmt.results_table: the README's results table is rendered from the published report folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_command

from nmt.results_table import read_reference, readme_args, readme_folders, render

ROOT = Path(__file__).resolve().parents[1]


def test_readme_table_is_exactly_what_the_committed_reports_render(monkeypatch):
    """No number in the README's results table is typed by hand: it must re-render identically."""
    monkeypatch.chdir(ROOT)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    folders = readme_folders(readme)
    assert folders and all((ROOT / f / "comparison.json").is_file() for f in folders)
    assert render(folders) in readme


def _results(src: str, tgt: str, model: str, bleu_lc: float, lp: float = 0.6) -> dict:
    net = {
        "transformer": {
            "_target_": "nmt.models.transformer.Transformer",
            "enc_layers": 2,
            "dec_layers": 1,
            "d_model": 64,
            "n_heads": 2,
        },
        "rnn": {"_target_": "nmt.models.rnn.Bahdanau", "hidden_dim": 32},
    }
    return {
        "model": model, "src_lang": src, "tgt_lang": tgt, "params": 1234567,
        "train": {"wall_time_s": 600.0, "steps": 4321, "tokens_per_s": 987.6},
        "test": {
            "bleu": bleu_lc - 0.5, "bleu_lc": bleu_lc, "chrf": 55.0, "decode": {"length_penalty": lp},
            "signature": {"bleu": "sig-b", "bleu_lc": "sig-lc", "chrf": "sig-c"},
        },
        "hardware": {"platform": "box", "cpu_model": "Some CPU", "cpus": 2, "threads": 1},
        "versions": {"torch": "2.13.0"},
        "config": {"model": {"net": net[model]}},
    }  # fmt: skip


def _tuned(chosen: float, bleu_lc: float) -> dict:
    return {
        "metric": "bleu", "tuned_on": "val", "chosen": chosen,
        "tried": [{"length_penalty": 0.6, "bleu": 30.0}, {"length_penalty": chosen, "bleu": 31.0}],
        "test": {"bleu": bleu_lc - 0.4, "bleu_lc": bleu_lc, "chrf": 56.0},
    }  # fmt: skip


def _report(folder: Path, runs: list[dict]) -> Path:
    folder.mkdir(parents=True)
    (folder / "comparison.json").write_text(json.dumps({"runs": runs}), encoding="utf-8")
    return folder


def _two_runs(tmp_path: Path) -> Path:
    return _report(
        tmp_path / "de-en",
        [
            {"results": _results("de", "en", "rnn", 31.0), "length_penalty": _tuned(0.6, 31.0)},
            {"results": _results("de", "en", "transformer", 39.0), "length_penalty": _tuned(1.4, 40.25)},
        ],
    )


def _rows(block: str) -> list[str]:
    return [line for line in block.splitlines() if line.startswith("| de→en |") or line.startswith("|  |")]


def test_rows_and_provenance(tmp_path):
    block = render([_two_runs(tmp_path)])
    rows = _rows(block)
    # The model describes itself (Seq2Seq.describe), from the saved config, found by its _target_.
    assert rows[0].startswith("| de→en | Transformer (2+1 layers, 64 wide, 2 heads) | 0.6 (default) | 38.50 | 39.00 |")
    assert rows[0].endswith("| 1,234,567 | 10 min | 4,321 | 988 |")
    assert rows[1] == "|  |  | 1.4 (chosen on val) | 39.85 | 40.25 | 56.00 |  |  |  |  |"
    assert rows[2].startswith("| de→en | RNN (bi-GRU 32 + Bahdanau attention) | 0.6 (default; chosen on val) |")
    assert len(rows) == 3 and "✓" not in block and "✗" not in block and "target" not in block
    assert "- de→en transformer: val BLEU by length penalty 30.00 (0.6) / 31.00 (1.4)" in block
    assert "- signature bleu_lc: `sig-lc`" in block and "- hardware: box, Some CPU, 2 CPUs, 1 torch thread(s)" in block


@pytest.mark.parametrize(
    ("precision", "training"), [("bf16-mixed", "10 min, bf16 mixed"), ("32-true", "10 min, fp32"), (None, "10 min")]
)
def test_the_training_column_names_the_precision_the_run_trained_in(tmp_path, precision, training):
    results = _results("de", "en", "rnn", 31.0)
    if precision is not None:
        results["config"]["trainer"] = {"precision": precision}
    rows = _rows(render([_report(tmp_path / "r", [{"results": results}])]))
    assert rows[0].endswith(f"| 1,234,567 | {training} | 4,321 | 988 |")


def test_unknown_model_class_is_described_by_its_name(tmp_path):
    results = _results("de", "en", "rnn", 31.0)
    results["config"]["model"]["net"]["_target_"] = "os.system"  # never imported: looked up among registered models
    block = render([_report(tmp_path / "r", [{"results": results}])])
    assert "| de→en | rnn | 0.6 (default) |" in block


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_a_reference_column_from_the_users_file(tmp_path, kind, monkeypatch):
    folder = _two_runs(tmp_path)
    ref = tmp_path / f"published.{kind}"
    if kind == "csv":
        ref.write_text("src,tgt,model,reference\nde,en,rnn,28.1 (tutorial)\n", encoding="utf-8")
    else:
        ref.write_text(json.dumps([{"src": "de", "tgt": "en", "model": "rnn", "reference": "28.1 (tutorial)"}]))
    assert read_reference(ref) == {("de", "en", "rnn"): "28.1 (tutorial)"}
    block = render([folder], ref)
    rows = _rows(block)
    assert "| train tokens/s | reference |" in block
    assert rows[0].endswith("| 988 | — |") and rows[1].endswith("|  |  |") and rows[2].endswith("| 28.1 (tutorial) |")
    readme = tmp_path / "README.md"
    readme.write_text("<!-- results-table: old -->\n<!-- /results-table -->\n")
    assert run_command("nmt.results_table", [str(folder), f"reference={ref}", f"readme={readme}"], monkeypatch) == 0
    assert readme_args(readme.read_text()) == ([str(folder)], str(ref)) and block in readme.read_text()


def test_a_bad_reference_file_is_one_line(tmp_path, capsys, monkeypatch):
    ref = tmp_path / "ref.csv"
    ref.write_text("direction,score\nde-en,1\n", encoding="utf-8")
    assert run_command("nmt.results_table", [str(_two_runs(tmp_path)), f"reference={ref}"], monkeypatch) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ref.csv: not a readable reference table" in err
    assert "src,tgt,model,reference" in err


def test_update_readme_replaces_only_the_block(tmp_path, monkeypatch):
    folder = _report(tmp_path / "r", [{"results": _results("en", "de", "rnn", 35.0)}])
    readme = tmp_path / "README.md"
    readme.write_text("# title\n\nbefore\n<!-- results-table: old -->\nstale | 1 |\n<!-- /results-table -->\nafter\n")
    assert run_command("nmt.results_table", [str(folder), f"readme={readme}"], monkeypatch) == 0
    text = readme.read_text()
    assert text.startswith("# title\n\nbefore\n") and text.endswith("\nafter\n") and "stale" not in text
    assert readme_folders(text) == [str(folder)] and render([folder]) in text


def test_errors_name_the_file_and_the_fix(tmp_path, capsys, monkeypatch):
    folder = _report(tmp_path / "r", [{"results": _results("en", "de", "rnn", 35.0)}])
    (tmp_path / "README.md").write_text("no markers\n")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "comparison.json").write_text("{not json")
    for args, message in (
        ([str(tmp_path)], "comparison.json: missing; write the report with python -m nmt.compare"),
        ([str(folder), f"readme={tmp_path / 'README.md'}"], "add the two markers first"),
        ([str(folder), f"readme={tmp_path / 'nope.md'}"], "nope.md: no such file"),
        ([str(tmp_path / "bad")], "not a comparison.json of nmt.compare"),
    ):
        assert run_command("nmt.results_table", args, monkeypatch) == 2
        err = capsys.readouterr().err
        assert err.startswith("nmt.results_table: error: ") and err.count("\n") == 1
        assert message in err
