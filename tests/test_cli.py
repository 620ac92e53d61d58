"""Forgiving command lines: sentences as typed, unknown keys with a suggestion, --help, run folders.

Each command is run through its real ``python -m`` entry (``runpy``, in this process: the modules
are imported once) with ``sys.argv`` set as a shell would set it.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_command
from hydra.core.override_parser.overrides_parser import OverridesParser

from nmt.cli import legacy_flags, positional_list, quote_text_args

GERMAN = "Der Lehrer dachte, dass „Müller\" (ä ö ü ß) [sic] 'kommt', oder?"
HYDRA_COMMANDS = [
    "train", "evaluate", "translate", "plot", "length_penalty", "bench", "serve", "compare", "results_table",
    "bench.explorer_latency", "prepare",
]  # fmt: skip


@pytest.mark.parametrize(
    "sentence",
    [GERMAN, "the teacher thought , that the man sleeps .", "a\\b ${x} 'q' \"d\" = [x] {y}", "[nur Klammern]!"],
)
def test_a_sentence_reaches_hydra_as_typed(sentence):
    (arg,) = quote_text_args([f"src={sentence}"], ["src"])
    assert OverridesParser.create().parse_override(arg).value() in (sentence, sentence.replace("${", "\\${"))


def test_older_quoted_form_lists_and_null_are_kept():
    args = ['tgt="Ein Mann, ein Rad."', "src=[alpha,beta]", "n=3", "output=null", "src=alpha beta"]
    assert quote_text_args(args, ["src", "tgt", "output"]) == args
    (number,) = quote_text_args(["src=1"], ["src"])
    assert OverridesParser.create().parse_override(number).value() == "1", "a sentence, not a number"


@pytest.mark.parametrize(
    ("module", "args", "suggestion"),
    [
        ("nmt.train", ["trainer.max_epoch=1"], "did you mean trainer.max_epochs?"),
        ("nmt.train", ["model=rnn", "model.net.hiden_dim=8"], "did you mean model.net.hidden_dim?"),
        ("nmt.train", ["model=rnnn"], "did you mean model=rnn? (choices: rnn, transformer, transformer_base,"),
        ("nmt.train", ["logger=[csv,tensorbord]"], "no such choice; did you mean logger=tensorboard?"),
        ("nmt.evaluate", ["chekpoint=last"], "did you mean checkpoint?"),
        ("nmt.translate", ["nbset=2"], "did you mean nbest?"),
        ("nmt.plot", ["outptu=x"], "did you mean output?"),
        ("nmt.length_penalty", ["penalty=[1.0]"], "did you mean penalties?"),
        ("nmt.bench", ["treads=2"], "did you mean threads?"),
        ("nmt.serve", ["prot=1"], "did you mean port?"),
        ("nmt.compare", ["a", "b", "hmtl=true"], "did you mean html?"),
        ("nmt.compare", ["--hmtl", "a", "b"], "--hmtl: no such option; options are key=value: did you mean html=…?"),
        ("nmt.results_table", ["--redme", "x", "y"], "did you mean readme=…?"),
        ("nmt.bench.explorer_latency", ["client=[1]"], "did you mean clients?"),
    ],
)
def test_unknown_key_gets_one_line_with_the_closest(module, args, suggestion, monkeypatch, capsys):
    assert run_command(module, args, monkeypatch) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith(f"{module}: error: ") and suggestion in err, err
    assert "+" not in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("module", "args", "message"),
    [
        ("nmt.evaluate", [], "run= is missing"),
        ("nmt.translate", [], "run= is missing"),
        ("nmt.length_penalty", [], "run= is missing"),
        ("nmt.serve", [], "run= is missing"),
        ("nmt.evaluate", ["run=/no/such/run"], "no such folder"),
        ("nmt.plot", ["run=/no/such/run", "src=a"], "no such folder"),
        ("nmt.plot", ["runs=[/no/such/run]", "split=test", "analysis=true"], "no such folder"),
        ("nmt.bench", ["run=/no/such/run"], "no such folder"),
        ("nmt.serve", ["run=/no/such/run"], "no such folder"),
        ("nmt.compare", ["/no/such/run", "/no/such/other"], "no such folder"),
        ("nmt.results_table", ["/no/such/report"], "/no/such/report"),
    ],
)
def test_missing_run_folder_is_one_line(module, args, message, monkeypatch, capsys):
    assert run_command(module, args, monkeypatch) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err, err


@pytest.mark.parametrize("command", HYDRA_COMMANDS)
def test_help_lists_only_the_commands_keys_one_line_each(command, monkeypatch, capsys):
    assert run_command(f"nmt.{command}", ["--help"], monkeypatch) == 0
    out = capsys.readouterr().out
    keys = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert keys and all("=" in key for key in keys), out
    assert len(keys) == len(set(keys)), "each key once"
    if command in ("evaluate", "translate"):
        assert not any(key.startswith(("model", "trainer", "data=", "experiment")) for key in keys), out
        assert "checkpoint=best" in keys
    if command == "train":
        assert "trainer.max_epochs=3" in keys and "model=rnn|transformer|transformer_base|transformer_big" in keys


def test_german_sentence_through_plot(transformer_run, tmp_path, monkeypatch, capsys):
    out = tmp_path / "plots"
    args = [f"run={transformer_run}", f"src={GERMAN}", 'tgt=Er sagte: "Grüße, Straße!" (ja)', f"output={out}"]
    assert run_command("nmt.plot", args, monkeypatch) == 0, capsys.readouterr().err
    assert any(p.suffix == ".png" for p in out.iterdir())


def test_german_sentences_through_translate_and_evaluate(transformer_run, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "Texte, deutsch (ä)"
    folder.mkdir()
    src, ref = folder / "quelle, 1.txt", folder / "ref.txt"
    src.write_text(f"{GERMAN}\nalpha beta\n", encoding="utf-8")
    ref.write_text("REF EINS\nBETA ALPHA\n", encoding="utf-8")
    hyps = folder / "hyps.txt"
    assert run_command("nmt.translate", [f"run={transformer_run}", f"input={src}", f"output={hyps}"], monkeypatch) == 0
    assert len(hyps.read_text(encoding="utf-8").splitlines()) == 2
    args = [f"run={transformer_run}", f"src_file={src}", f"ref_file={ref}", f"output={folder / 'scores, 1.json'}"]
    args.append(f"hypotheses={folder / 'h.txt'}")
    assert run_command("nmt.evaluate", args, monkeypatch) == 0, capsys.readouterr().err
    assert Path(folder / "scores, 1.json").is_file()


def test_plot_reads_sentences_from_stdin(transformer_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("„ä“, ö!\n\n(ß) [x]\n"))
    out = tmp_path / "plots"
    args = [f"run={transformer_run}", "src_file=-", f"output={out}", "decode=greedy"]
    assert run_command("nmt.plot", args, monkeypatch) == 0, capsys.readouterr().err
    stems = {p.name.split("-")[0] for p in out.glob("*.png")}
    assert len(stems) == 2, sorted(p.name for p in out.iterdir())  # one set of heatmaps per non-blank line
    assert run_command("nmt.plot", [f"run={transformer_run}", "src_file=/no/file"], monkeypatch) == 2
    assert "src_file=/no/file: cannot read it" in capsys.readouterr().err


COMPARE_FLAGS = {"--out": ("out", "1"), "--html": ("html", "true"), "--sentences": ("sentences", "+")}


def test_older_flags_become_key_value_with_one_note(capsys):
    args = ["runs/a", "runs/b", "--out", "my report", "--html", "--sentences", "0", "4"]
    assert legacy_flags("nmt.compare", args, COMPARE_FLAGS) == [
        "runs/a", "runs/b", "out='my report'", "html=true", "sentences=[0,4]",
    ]  # fmt: skip
    assert legacy_flags("nmt.compare", ["--out=x", "--sentences"], COMPARE_FLAGS) == ["out=x", "sentences=[]"]
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and err.startswith("nmt.compare: note: --options are deprecated") and "--html" in err


def test_bare_arguments_fill_the_list_key():
    args = positional_list(["runs/a", "out=x", "runs b, c", "-m"], "runs")
    assert args[1:] == ["out=x", "-m"]
    assert OverridesParser.create().parse_override(args[0]).value() == ["runs/a", "runs b, c"]
    assert positional_list(["out=x"], "runs") == ["out=x"]


@pytest.mark.slow
def test_compare_positional_runs_key_and_older_flags_agree(transformer_run, rnn_run, tmp_path, monkeypatch, capsys):
    light = ["time_decoding=false", "sentences=[]"]
    forms = {
        "positional": [str(transformer_run), str(rnn_run), f"out={tmp_path / 'a'}", *light],
        "key": [f"runs=[{transformer_run},{rnn_run}]", f"out={tmp_path / 'b'}", *light],
        "flags": [str(transformer_run), str(rnn_run), "--out", str(tmp_path / "c"), "--no-decode", "--sentences"],
    }
    for name, args in forms.items():
        assert run_command("nmt.compare", args, monkeypatch) == 0, (name, capsys.readouterr().err)
    assert "deprecated" in capsys.readouterr().err
    summaries = [json.loads((tmp_path / d / "comparison.json").read_text()) for d in "abc"]
    assert [[r["path"] for r in s["runs"]] for s in summaries] == [[str(transformer_run), str(rnn_run)]] * 3
    assert summaries[0]["meta"]["command"].startswith("python -m nmt.compare runs=[")


@pytest.mark.slow
def test_console_scripts_find_their_configs_and_take_sentences_as_typed(transformer_run, rnn_run, tmp_path):
    bin_dir = Path(sys.executable).parent
    env = {"PATH": str(bin_dir), "OMP_NUM_THREADS": "1", "HOME": str(tmp_path), "MPLBACKEND": "Agg"}

    def script(name: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(bin_dir / name), *args], capture_output=True, text=True, env=env, cwd=tmp_path)

    shown = script("nmt-train", "--help")
    assert shown.returncode == 0 and "callbacks.heatmaps.sentences=3" in shown.stdout
    plots = tmp_path / "plots, 1"
    drawn = script("nmt-plot", f"run={transformer_run}", f"src={GERMAN}", f"output={plots}")
    assert drawn.returncode == 0, drawn.stderr[-2000:]
    assert any(p.suffix == ".png" for p in plots.iterdir())
    report = script("nmt-compare", str(transformer_run), str(rnn_run), "out=report", "time_decoding=false")
    assert report.returncode == 0 and report.stdout.strip() == "report/report.md", report.stderr[-2000:]
    missing = script("nmt-evaluate")
    assert missing.returncode == 2 and missing.stderr.startswith("nmt.evaluate: error: run= is missing")


def test_every_command_has_a_console_script_that_resolves():
    import importlib

    import tomllib

    scripts = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
    for name, target in scripts.items():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), name
    commands = {target.partition(":")[0].removesuffix(".__main__") for target in scripts.values()}
    for command in HYDRA_COMMANDS:
        assert f"nmt.{command}" in commands, f"nmt.{command} has no console script"
