"""nmt.atomic: whole files or nothing."""

from __future__ import annotations

import json
import os

import pytest

from nmt.atomic import write_json_atomic, write_text_atomic


def test_write_text_atomic_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "hyp.txt"
    write_text_atomic(target, "a\nb\n")
    write_text_atomic(target, "c\n")
    assert target.read_text(encoding="utf-8") == "c\n"
    assert os.listdir(target.parent) == ["hyp.txt"]


def test_write_json_atomic_roundtrip(tmp_path):
    target = tmp_path / "results.json"
    write_json_atomic(target, {"bleu": 1.5, "path": tmp_path, "text": "Grüße"})
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data == {"bleu": 1.5, "path": str(tmp_path), "text": "Grüße"}


def test_failed_write_keeps_old_file(tmp_path):
    target = tmp_path / "results.json"
    write_json_atomic(target, {"ok": 1})
    with pytest.raises(TypeError):
        write_text_atomic(target, object())  # type: ignore[arg-type]
    assert json.loads(target.read_text(encoding="utf-8")) == {"ok": 1}
    assert os.listdir(tmp_path) == ["results.json"]
