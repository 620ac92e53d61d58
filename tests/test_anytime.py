"""The anytime table: the best val BLEU each run had reached by a given training time."""

from __future__ import annotations

from pathlib import Path

from nmt.anytime import anytime_table, best_by, marks
from nmt.comparison_report import Run, markdown_report

CURVE = [(100, 300.0, 10.0), (200, 1000.0, 25.0), (300, 2000.0, 24.0), (400, 5340.0, 30.0)]


def test_best_by_takes_the_best_validation_done_in_time():
    assert best_by(CURVE, 299.0) is None
    assert best_by(CURVE, 300.0) == 10.0
    assert best_by(CURVE, 2500.0) == 25.0  # the later, lower validation does not lower it
    assert best_by(CURVE, 6000.0) == 30.0
    assert best_by([(1, None, 50.0)], 1e9) is None  # no wall time: nothing to place on the clock


def test_marks_follow_the_protocol_or_quarters():
    assert marks(89 * 60) == [900.0, 1800.0, 2700.0, 3600.0, 5340.0]
    assert marks(40 * 60) == [900.0, 1800.0, 2400.0]  # the run's end follows the last quarter hour reached
    assert marks(400.0) == [100.0, 200.0, 300.0, 400.0]


def test_table_has_one_row_per_run_and_dashes_before_the_first_validation():
    header, rows = anytime_table({"a": CURVE, "b": [(50, 1200.0, 5.0)]})
    assert header == ["val BLEU reached by", "15 min", "30 min", "45 min", "60 min", "89 min"]
    assert rows[0] == ["a", "10.00", "25.00", "25.00", "25.00", "30.00"]
    assert rows[1] == ["b", "–", "5.00", "5.00", "5.00", "5.00"]
    assert anytime_table({"old": [(1, None, 3.0)]}) is None


def test_the_comparison_report_carries_the_table():
    results = {"model": "m", "data": "toy", "src_lang": "en", "tgt_lang": "de", "test": {}, "val": {}}
    runs = [Run(Path("a"), results, "a", curve=CURVE), Run(Path("b"), results, "b", curve=CURVE[:2])]
    meta = {"sentences": 1, "threads": 1, "command": "nmt.compare a b"}
    text = markdown_report(runs, {}, meta)
    assert "| val BLEU reached by | 15 min | 30 min | 45 min | 60 min | 89 min |" in text
    assert "| b | 10.00 | 25.00 | 25.00 | 25.00 | 25.00 |" in text


def test_the_comparison_report_names_the_training_precision():
    bf16 = {"model": "m", "data": "toy", "test": {}, "val": {}, "config": {"trainer": {"precision": "bf16-mixed"}}}
    old = {"model": "m", "data": "toy", "test": {}, "val": {}}  # results.json from before the config was saved
    meta = {"sentences": 1, "threads": 1, "command": "c"}
    text = markdown_report([Run(Path("a"), bf16, "a"), Run(Path("b"), old, "b")], {}, meta)
    assert "trained in bf16 mixed" in text and "trained in a precision not recorded" in text
