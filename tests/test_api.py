"""The Python API: nmt.load and Translator, on the tiny trained run folders."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
import torch

import nmt
from nmt.api import Translation, Translator
from nmt.checkpoint import build_model, load_run

SENTENCES = ["alpha beta gamma", "delta", "", "mu nu xi omicron pi rho", "   ", "beta alpha"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def translator(transformer_run) -> Translator:
    return nmt.load(transformer_run)


def _same(a: list[Translation], b: list[Translation]) -> None:
    for x, y in zip(a, b, strict=True):
        assert (x.text, x.score, x.tgt_pieces) == (y.text, y.score, y.tgt_pieces)
        assert (x.attention is None) == (y.attention is None)
        if x.attention is not None:
            assert torch.equal(x.attention, y.attention)


@pytest.mark.parametrize("fixture", ["transformer_run", "rnn_run"])
def test_reloaded_model_translates_like_the_in_memory_one(fixture, request):
    run_dir = request.getfixturevalue(fixture)
    first, second = load_run(run_dir), load_run(run_dir)
    # The in-memory copy: a fresh model handed the weights directly, never through a file.
    fresh = build_model(first.config.model, first.vocab)
    fresh.load_state_dict(first.model.state_dict())
    kwargs = dict(strategy="greedy", return_attention=True)
    reference = Translator(fresh, first.vocab).translate(SENTENCES, **kwargs)
    _same(Translator.from_run(first).translate(SENTENCES, **kwargs), reference)
    _same(Translator.from_run(second).translate(SENTENCES, **kwargs), reference)


def test_import_nmt_is_light_and_load_is_exported():
    code = "import sys, nmt; assert 'torch' not in sys.modules; assert callable(nmt.load); print(nmt.Translator)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "nmt.api.Translator" in out.stdout


def test_translate_keeps_order_handles_blanks_and_is_batch_invariant(translator):
    texts = translator.translate(SENTENCES, strategy="greedy")
    assert len(texts) == len(SENTENCES) and all(isinstance(t, str) for t in texts)
    assert texts[2] == "" and texts[4] == ""
    one_by_one = [translator.translate([s], strategy="greedy")[0] for s in SENTENCES]
    tiny_batches = translator.translate(SENTENCES, strategy="greedy", max_tokens=1)
    assert one_by_one == texts == tiny_batches


def test_attention_matches_the_pieces(translator):
    results = translator.translate(SENTENCES, beam_size=3, return_attention=True)
    assert all(isinstance(r, Translation) for r in results)
    for r in results:
        if not r.source.strip():
            assert r.text == "" and r.attention is None and r.src_pieces == []
            continue
        L, h, T, S = r.attention.shape
        assert (T, S) == (len(r.tgt_pieces), len(r.src_pieces))
        assert r.src_pieces[-1] == r.tgt_pieces[-1] == "</s>"
        assert torch.allclose(r.attention.sum(-1), torch.ones(L, h, T), atol=1e-5)


def test_translation_repr_is_one_short_line(translator):
    (hyp,) = translator.translate([SENTENCES[0]], return_attention=True)
    text = repr(hyp)
    assert "\n" not in text and len(text) < 300 and "tensor" not in text
    assert repr(hyp.text) in text and f"score={hyp.score:.3f}" in text
    assert f"src_pieces={len(hyp.src_pieces)}" in text and f"tgt_pieces={len(hyp.tgt_pieces)}" in text
    assert "attention=(" + ", ".join(str(n) for n in hyp.attention.shape) + ")" in text
    blank = translator.translate([""], return_attention=True)[0]
    assert "attention=None" in repr(blank) and "src_pieces=0" in repr(blank)


def test_n_best_lists_are_sorted_and_start_with_the_one_best(translator):
    best = translator.translate(SENTENCES, beam_size=4)
    nbest = translator.translate(SENTENCES, beam_size=4, n_best=3)
    assert len(nbest) == len(SENTENCES)
    for one, hyps in zip(best, nbest, strict=True):
        assert 1 <= len(hyps) <= 3 and hyps[0].text == one
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)


def test_sampling_n_best_draws_reproducible_samples(translator):
    a = translator.translate(SENTENCES, strategy="sample", n_best=4, seed=7)
    b = translator.translate(SENTENCES, strategy="sample", n_best=4, seed=7)
    assert [[h.text for h in hyps] for hyps in a] == [[h.text for h in hyps] for hyps in b]
    assert all(len(hyps) == 4 for hyps, s in zip(a, SENTENCES, strict=True) if s.strip())


def test_long_sources_are_cut_with_a_warning(translator, caplog):
    long = " ".join(["alpha"] * 5000)
    with caplog.at_level(logging.WARNING, logger="nmt.api"):
        result = translator.translate(
            [long, "beta"], strategy="greedy", max_len_a=0, max_len_b=4, return_attention=True
        )
    assert result[0].truncated and not result[1].truncated
    assert len(result[0].src_pieces) == translator.max_len + 1  # + EOS
    assert "max_len" in caplog.text


def test_bad_arguments_are_clear(translator):
    with pytest.raises(TypeError, match="list of sentences"):
        translator.translate("alpha beta")
    with pytest.raises(ValueError, match="greedy"):
        translator.translate(["alpha"], strategy="greedy", n_best=2)
    with pytest.raises(ValueError, match="n_best"):
        translator.translate(["alpha"], beam_size=2, n_best=3)


def test_int8_translates_the_same_sentences_with_its_own_matmuls(translator):
    fp32 = translator.translate(SENTENCES)
    int8 = translator.translate(SENTENCES, precision="int8")
    assert len(int8) == len(SENTENCES) and int8[2] == "" and int8[4] == ""
    assert sum(a == b for a, b in zip(fp32, int8, strict=True)) >= len(SENTENCES) - 1  # rounding, not another model
    assert translator.model.out_proj is None  # still tied: the int8 copy is decoding's own
    with pytest.raises(ValueError, match="precision"):
        translator.translate(["alpha"], precision="int4")
