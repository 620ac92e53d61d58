"""Forgiving command lines: sentences as typed, unknown keys with a suggestion, --help, run folders.

Each command is run through its real ``python -m`` entry (``runpy``, in this process: the modules
are imported once) with ``sys.argv`` set as a shell would set it.
"""

from __future__ import annotations

import io
import runpy
import sys
import warnings
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from nmt.cli import quote_text_args

GERMAN = "Der Lehrer dachte, dass „Müller\" (ä ö ü ß) [sic] 'kommt', oder?"
HYDRA_COMMANDS = ["train", "evaluate", "translate", "plot", "length_penalty", "bench", "serve", "prepare"]


def run_command(module: str, args: list[str], monkeypatch) -> int:
    """Run ``python -m <module> <args>``; returns its exit status."""
    monkeypatch.setattr(sys, "argv", [module, *args])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*found in sys.modules", category=RuntimeWarning)
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=False)
        except SystemExit as done:
            return 0 if done.code is None else done.code if isinstance(done.code, int) else 1
    return 0


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
        ("nmt.evaluate", ["chekpoint=last"], "did you mean checkpoint?"),
        ("nmt.translate", ["nbset=2"], "did you mean nbest?"),
        ("nmt.plot", ["outptu=x"], "did you mean output?"),
        ("nmt.length_penalty", ["penalty=[1.0]"], "did you mean penalties?"),
        ("nmt.bench", ["treads=2"], "did you mean threads?"),
        ("nmt.serve", ["prot=1"], "did you mean port?"),
        ("nmt.compare", ["--hmtl", "a", "b"], "did you mean --html?"),
        ("nmt.results_table", ["--redme", "x", "y"], "did you mean --readme?"),
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
