"""decode.precision=int8 (nmt.int8): 8-bit Linear layers, a quantized copy that tracks the weights."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from torch import nn

from nmt.errors import ConfigError
from nmt.evaluation import decode_tag, evaluate
from nmt.int8 import Int8Linear, int8_model, quantized_copy
from nmt.search import DecodeSettings, decode
from tests.search_models import batch, rnn, teacher_forced, transformer

CONF = Path(__file__).resolve().parents[1] / "conf"
REAL = [pytest.param(transformer, id="transformer"), pytest.param(rnn, id="rnn")]


def test_int8_linear_is_the_linear_to_within_its_rounding():
    torch.manual_seed(0)
    linear = nn.Linear(48, 40)
    with torch.no_grad():
        linear.weight[3] *= 50  # one large row: per-row scales keep the other rows' precision
    x = torch.randn(2, 5, 48)  # (B, T, in): any leading shape
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the deprecation of quantized tensors is not the user's business
        q = Int8Linear(linear)
    with torch.inference_mode():
        y, ref = q(x), linear(x)
    assert y.shape == ref.shape == (2, 5, 40) and y.dtype == torch.float32
    err = (y - ref).abs()  # (B, T, out)
    rows = [j for j in range(40) if j != 3]
    # Each output's error is a few roundings of its own row's scale, not of the big row's.
    assert err[..., rows].max() < 0.05 * ref[..., rows].abs().max()
    assert err[..., 3].max() < 0.05 * ref[..., 3].abs().max()
    assert not torch.equal(y, ref)  # it is really quantized


@pytest.mark.parametrize("make", REAL)
def test_the_copy_quantizes_every_linear_and_leaves_the_model_alone(make):
    model, b = make(1), batch(4, seed=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    twin = quantized_copy(model)
    assert not any(isinstance(m, nn.Linear) for m in twin.modules())  # the tied projection too
    assert sum(isinstance(m, Int8Linear) for m in twin.modules()) == sum(
        isinstance(m, nn.Linear) for m in model.modules()
    ) + int(getattr(model, "out_proj", 0) is None)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert getattr(model, "out_proj", 0) is None or make is rnn  # the Transformer stays tied
    tgt = torch.full((4, 3), 1)  # BOS, then two more steps
    with torch.inference_mode():
        ref, _ = model(b.src, b.src_mask, tgt)
        got, _ = twin(b.src, b.src_mask, tgt)
    assert (got - ref).abs().max() < 0.05 * ref.abs().max()


@pytest.mark.parametrize("make", REAL)
@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_int8_decoding_scores_near_the_fp32_model(make, strategy):
    """The int8 hypotheses' log-probabilities are the fp32 model's to within the rounding."""
    model, b = make(19), batch(5, seed=19)
    settings = DecodeSettings(strategy, beam_size=3, n_best=2 if strategy == "beam" else 1, precision="int8")
    found = decode(model, b.src, b.src_mask, settings, need_weights=True)
    for i, hyps in enumerate(found):
        assert hyps
        for h in hyps:
            log_prob, attention = teacher_forced(model, b, i, h)
            assert h.log_prob == pytest.approx(log_prob, abs=0.05 * (len(h.tokens) + 1))
            assert h.attention is not None and torch.allclose(h.attention, attention, atol=0.05)


def test_the_copy_is_made_once_and_remade_when_the_weights_change():
    model = transformer(2)
    first = int8_model(model)
    assert int8_model(model) is first  # cached: decoding batch after batch quantizes once
    x = torch.randn(3, 32)
    with torch.no_grad():
        model.decoder[0].ff.W_1.weight.mul_(2)  # an optimiser step, in place
    second = int8_model(model)
    assert second is not first
    with torch.inference_mode():
        assert not torch.equal(second.decoder[0].ff.W_1(x), first.decoder[0].ff.W_1(x))
    model.load_state_dict(transformer(3).state_dict())  # a checkpoint loaded
    assert int8_model(model) is not second


def test_a_model_off_the_cpu_is_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"^decode\.precision=int8 runs on CPUs only .*use decode\.precision=bf16"):
        quantized_copy(transformer(0).to("meta"))


def test_settings_and_tags_name_int8():
    assert DecodeSettings("beam", precision="int8").precision == "int8"
    assert decode_tag(DecodeSettings("beam", beam_size=5, precision="int8")) == "beam5-lp0.6-int8"
    for name in ("greedy", "beam", "sample"):  # `decode=<name> decode.precision=int8` needs the key in each file
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(config_name="evaluate", overrides=["run=x", f"decode={name}", "decode.precision=int8"])
        assert DecodeSettings(**cfg.decode).precision == "int8"


def test_evaluate_with_int8_writes_its_own_files(transformer_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def run(*overrides: str) -> dict:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(config_name="evaluate", overrides=[f"run={transformer_run}", "split=val", *overrides])
        return evaluate(cfg)

    fp32 = run("decode=greedy", f"output={tmp_path / 'fp32.json'}")
    int8 = run("decode=greedy", "decode.precision=int8")
    saved = json.loads(Path(int8["output"]).read_text())
    assert saved["decode"]["precision"] == "int8" and Path(int8["hypotheses"]).name.endswith(".greedy-int8.txt")
    assert saved["int8_input_bits"] in (7, 8) and "int8_input_bits" not in fp32  # how it rounded, on this CPU
    fp32_lines = Path(fp32["hypotheses"]).read_text(encoding="utf-8").splitlines()
    int8_lines = Path(int8["hypotheses"]).read_text(encoding="utf-8").splitlines()
    same = sum(a == b for a, b in zip(fp32_lines, int8_lines, strict=True)) / len(fp32_lines)
    assert same >= 0.75 and abs(saved["bleu"] - fp32["bleu"]) <= 2.0  # the same model, rounded
