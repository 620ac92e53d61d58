"""Hypotheses line up with the reference files; evaluate and translate give one model one output."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sacrebleu
import yaml
from hydra import compose, initialize_config_dir

import nmt
import nmt.translate
from nmt.api import Translator
from nmt.checkpoint import load_run
from nmt.data import build_datamodule
from nmt.decoding import decode_and_score
from nmt.evaluation import evaluate
from nmt.search import DecodeSettings

CONF = Path(__file__).resolve().parents[1] / "conf"
pytestmark = pytest.mark.usefixtures("one_thread")


def _compose(name: str, *overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=name, overrides=list(overrides))


def _edit_config(run: Path, edit) -> None:
    cfg = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    edit(cfg)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")


def _cli_lines(path: Path) -> list[str]:
    """A file's lines as sacreBLEU's command line reads them (``line.rstrip()``)."""
    with open(path, encoding="utf-8") as f:
        return [line.rstrip() for line in f]


def test_blank_test_lines_keep_their_place(transformer_run, reverse_corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default outputs: ./nmt-output/
    run = Path(shutil.copytree(transformer_run, tmp_path / "run"))
    src = (reverse_corpus / "test.src").read_text(encoding="utf-8").splitlines()
    ref = (reverse_corpus / "test.tgt").read_text(encoding="utf-8").splitlines()
    src[1], src[4], ref[4] = "", "   ", ""  # a blank source with a reference; a blank pair
    (tmp_path / "test.src").write_text("\n".join(src) + "\n", encoding="utf-8")
    (tmp_path / "test.ref").write_text("\n".join(ref) + "\n", encoding="utf-8")

    def point_at_files(cfg: dict) -> None:
        cfg["data"]["corpus"]["test"] = {"src": str(tmp_path / "test.src"), "tgt": str(tmp_path / "test.ref")}

    _edit_config(run, point_at_files)
    report = evaluate(_compose("evaluate", f"run={run}", "decode=greedy"))
    hyps, refs = _cli_lines(Path(report["hypotheses"])), _cli_lines(tmp_path / "test.ref")
    assert len(hyps) == len(refs) == len(src) == report["sentences"] and hyps[1] == hyps[4] == ""
    assert sum(map(bool, hyps)) == len(src) - 2
    assert report["bleu"] == round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2)

    # nmt.train scores its test split through the same path: a translator over its data module's split.
    loaded = load_run(run)
    dm = build_datamodule(loaded.config)
    dm.setup("test")
    translator = Translator(loaded.model, dm.vocab, int(loaded.config.data.max_len), config=loaded.config)
    scored = decode_and_score(translator, dm.sources("test"), dm.references("test"), DecodeSettings("greedy"), 64)
    assert scored.texts == hyps and scored.scores["bleu"] == report["bleu"]


def test_evaluate_and_translate_cut_long_sources_the_same_way(transformer_run, tmp_path):
    run = Path(shutil.copytree(transformer_run, tmp_path / "run"))
    _edit_config(run, lambda cfg: cfg["data"].update(max_len=3))
    lines = ["alpha beta gamma delta epsilon", "mu nu", "zeta eta theta iota kappa lambda", ""]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "ref.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = evaluate(
        _compose(
            "evaluate",
            f"run={run}",
            "decode=greedy",
            f"src_file={tmp_path / 'in.txt'}",
            f"ref_file={tmp_path / 'ref.txt'}",
            f"hypotheses={tmp_path / 'eval.txt'}",
            f"output={tmp_path / 'eval.json'}",
        )
    )
    assert report["max_len"] == 3 and report["truncated_sources"] == 2
    nmt.translate.main(
        _compose("translate", f"run={run}", "decode=greedy", f"input={tmp_path / 'in.txt'}", f"output={tmp_path / 'o'}")
    )
    through_translate = (tmp_path / "o").read_text(encoding="utf-8")
    assert through_translate == (tmp_path / "eval.txt").read_text(encoding="utf-8")
    assert nmt.load(run).translate(lines, strategy="greedy") == through_translate.split("\n")[:-1]
    uncut = nmt.load(run, max_len=100).translate(lines, strategy="greedy")
    assert uncut != through_translate.split("\n")[:-1]  # the cut mattered, so the test can tell
