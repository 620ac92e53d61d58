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


def test_a_save_that_fails_midway_keeps_the_old_file(tmp_path):
    import torch

    from nmt.atomic import save_torch_atomic

    target = tmp_path / "last.ckpt"
    save_torch_atomic({"step": 1, "w": torch.ones(3)}, target)
    with pytest.raises(Exception):  # noqa: B017 - pickle raises its own types
        save_torch_atomic({"step": 2, "w": torch.zeros(1000), "bad": lambda: 0}, target)
    assert torch.load(target, weights_only=True)["step"] == 1
    assert os.listdir(tmp_path) == ["last.ckpt"]
