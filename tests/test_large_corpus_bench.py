"""The large-corpus benchmark's vocabulary phase alone, with the sample size passed through."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from nmt.bench.large_corpus import DEFAULTS, main


def _args(tmp_path, **kw):
    return OmegaConf.merge(
        OmegaConf.create(DEFAULTS),
        {"pairs": 300, "workdir": str(tmp_path / "work"), "out": str(tmp_path / "out"), **kw},
    )


def test_vocab_phase_alone_honours_sample_lines(tmp_path):
    main(_args(tmp_path, phases="vocab", sample_lines=100))
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    vocab = report["vocab"]["large"]
    assert vocab["sample_lines"] == 100 and vocab["sampled"]  # 600 lines (joint) > 100
    assert vocab["peak_rss_mb"] >= vocab["peak_rss_mb_read"] > 0
    assert report["store"] == {} == report["train"]  # only the phase asked for ran
    assert "| vocabulary: SentencePiece sample, at most (lines) | 100 |" in (tmp_path / "out" / "report.md").read_text()


def test_unknown_phase_is_refused_before_any_work(tmp_path):
    with pytest.raises(SystemExit, match="phases=vocab,eval"):
        main(_args(tmp_path, phases="vocab,eval"))
    assert not (tmp_path / "work").exists()  # no corpus generated
