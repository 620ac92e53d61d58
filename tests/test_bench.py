"""nmt.bench and nmt.flops: the quick benchmark end to end, and FLOP formulas against torch's counter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from torch.utils.flop_counter import FlopCounterMode

from nmt.batch import Batch
from nmt.bench import batch_lengths, bench, choose_data, format_report, spread
from nmt.checkpoint import load_run
from nmt.errors import ConfigError
from nmt.flops import TRAIN_FACTOR, OtherLoad, forward_flops, peak_matmul_gflops
from nmt.models.rnn import Bahdanau, RNNDims
from nmt.models.transformer import Transformer, TransformerDims
from nmt.sampler import TokenBucketSampler, padding_fraction

CONF = Path(__file__).resolve().parents[1] / "conf"
TRAIN_KEYS = {"train_tokens_per_s", "flops_per_target_token", "mfu", "padding_fraction", "peak_rss_mb", "steps"}
DECODE_KEYS = {"greedy_batched", "greedy_sequential", "beam_batched", "beam_sequential"}
RATIO_KEYS = {"beam_batched_vs_sequential", "greedy_vs_beam_batched"}


def compose_bench(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="bench", overrides=overrides)


def counted(model: torch.nn.Module, src: torch.Tensor, tgt: torch.Tensor, need_weights: bool, backward: bool) -> int:
    """FLOPs torch's counter sees in one forward (and backward) pass. Shapes: src (B, S); tgt (B, T)."""
    counter = FlopCounterMode(display=False)
    with counter:
        logits, _ = model(src, src.ne(model.pad_id), tgt, need_weights=need_weights)
        if backward:
            logits.sum().backward()
    return counter.get_total_flops()


def batch_of(B: int, S: int, T: int, vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Unpadded random ids (no special ids), so the formula's real lengths are the tensor shapes."""
    gen = torch.Generator().manual_seed(0)
    return torch.randint(4, vocab, (B, S), generator=gen), torch.randint(4, vocab, (B, T), generator=gen)


def test_transformer_formula_matches_flop_counter():
    # Different source/target vocabularies: the output projection must use the target one.
    model = Transformer(60, 45, 0, 1, 2, False, d_model=32, n_heads=4, enc_layers=2, dec_layers=3, d_ff=48)
    src, tgt = batch_of(3, 9, 5, 45)
    # need_weights takes the explicit attention path, whose QKᵀ and AV products the counter sees.
    expected = counted(model, src, tgt, need_weights=True, backward=False)
    assert forward_flops(model, [9] * 3, [5] * 3) == pytest.approx(expected, rel=0.02)
    assert TransformerDims.of(model) == TransformerDims(d_model=32, d_ff=48, enc_layers=2, dec_layers=3, vocab=45)


def test_rnn_formula_matches_flop_counter():
    # Two layers each side and the 2H-wide "mean" bridge exercise every term of the formula.
    dims = {"emb_dim": 16, "hidden_dim": 24, "attn_dim": 20, "enc_layers": 2, "dec_layers": 2, "bridge": "mean"}
    model = Bahdanau(50, 40, 0, 1, 2, False, **dims)
    src, tgt = batch_of(2, 7, 6, 40)
    expected = counted(model, src, tgt, need_weights=False, backward=False)
    assert forward_flops(model, [7, 7], [6, 6]) == pytest.approx(expected, rel=0.02)
    assert RNNDims.of(model).bridge_in == 48


@pytest.mark.parametrize("which", ["transformer", "rnn"])
def test_training_costs_three_forward_passes(which):
    if which == "transformer":
        model = Transformer(40, 40, 0, 1, 2, True, d_model=16, n_heads=2, enc_layers=1, dec_layers=1, d_ff=32)
    else:
        model = Bahdanau(40, 40, 0, 1, 2, True, emb_dim=16, hidden_dim=16, attn_dim=16)
    src, tgt = batch_of(2, 6, 6, 40)
    forward = counted(model, src, tgt, need_weights=True, backward=False)
    both = counted(model, src, tgt, need_weights=True, backward=True)
    assert both == pytest.approx(TRAIN_FACTOR * forward, rel=0.1)


def test_padding_from_batches_matches_sampler_definition():
    gen = torch.Generator().manual_seed(1)
    src = [list(range(4, 4 + int(n))) for n in torch.randint(1, 12, (40,), generator=gen)]
    tgt = [list(range(4, 4 + int(n))) for n in torch.randint(1, 12, (40,), generator=gen)]
    lengths = [(len(s) + 1, len(t) + 1) for s, t in zip(src, tgt, strict=True)]
    batches = TokenBucketSampler(lengths, max_tokens=40, shuffle=True, seed=0).epoch_batches()
    real = total = 0
    for b in batches:
        s_len, t_len, positions = batch_lengths(Batch.from_ids([src[k] for k in b], [tgt[k] for k in b], b, 0, 1, 2), 0)
        assert s_len == [lengths[k][0] for k in b] and t_len == [lengths[k][1] for k in b]
        real, total = real + sum(s_len) + sum(t_len), total + positions
    assert 1 - real / total == pytest.approx(padding_fraction(batches, lengths))


def test_spread_is_even_and_complete():
    assert spread(10, 20) == list(range(10))
    picked = spread(1000, 200)
    assert len(set(picked)) == 200 and picked[0] == 0 and picked[-1] >= 990
    assert max(b - a for a, b in zip(picked, picked[1:], strict=False)) == 5


def test_choose_data(tmp_path):
    cfg = compose_bench([f"cache_dir={tmp_path}"])
    assert choose_data(cfg).name == "toy"
    cached = tmp_path / "multi30k"
    cached.mkdir()
    for stem in ("train", "val", "test_2016_flickr"):
        for lang in ("en", "de"):
            (cached / f"{stem}.{lang}.gz").touch()
    assert (choose_data(cfg).name, choose_data(cfg).root) == ("multi30k", str(cached))
    cfg.data.tgt_lang = "cs"  # the cache lacks the Czech files
    assert choose_data(cfg).name == "toy"
    cfg.data.root = "/some/copy"
    assert (choose_data(cfg).name, choose_data(cfg).root) == ("multi30k", "/some/copy")


def test_peak_matmul_rate_is_reported_with_its_settings():
    peak = peak_matmul_gflops(size=64, repeats=2, trials=2)
    assert peak.gflops > 0 and peak.size == 64 and peak.threads == torch.get_num_threads()
    with pytest.raises(ValueError):
        peak_matmul_gflops(size=0)


def test_quick_bench_end_to_end(tmp_path):
    out = tmp_path / "bench.json"
    cfg = compose_bench(["quick=true", f"cache_dir={tmp_path / 'cache'}", f"output={out}"])
    threads = torch.get_num_threads()
    report = bench(cfg)
    assert torch.get_num_threads() == threads  # quick ran on 1 thread, then gave the setting back
    written = json.loads(out.read_text())
    assert written["peak_gflops"] > 0 and written["peak"]["size"] == 256
    assert written["machine"]["threads"] == 1 and written["machine"]["torch"] == torch.__version__
    assert written["data"]["name"] == "toy" and written["quick"] is True
    for name in ("transformer", "rnn"):
        model = written["models"][name]
        assert TRAIN_KEYS <= model["train"].keys()
        assert model["train"]["steps"] == 2 and model["train"]["mfu"] > 0
        assert 0 <= model["train"]["padding_fraction"] < 1
        assert DECODE_KEYS | RATIO_KEYS <= model["decode"].keys()
        assert model["decode"]["beam_sequential"]["sentences"] == 3
        assert model["decode"]["greedy_batched"]["sentences"] == 12
        # decode_workers=[1, 2]: the batched rows again in two processes, on the same sentences
        for search in ("greedy", "beam"):
            two = model["decode"][f"{search}_batched_2proc"]
            assert (two["workers"], two["sentences"]) == (2, 12) and two["sentences_per_s"] > 0
        assert model["profile"] and model["profile"][0]["self_cpu_ms"] >= model["profile"][-1]["self_cpu_ms"]
    assert "targets" not in written  # a benchmark reports figures; goals are the reader's
    table = format_report(report)
    assert "transformer" in table and "rnn" in table and "PASS" not in table and "MISS" not in table
    assert table.count("2 procs") == 4  # greedy and beam of both models


@pytest.mark.slow
def test_decoding_with_a_trained_run(tmp_path, transformer_run):
    small = ["steps=0", "models=[transformer]", "sentences=12", "sequential_sentences=3", "peak.size=64", "threads=1"]
    cfg = compose_bench([*small, f"run={transformer_run}", f"cache_dir={tmp_path}", f"output={tmp_path / 'b.json'}"])
    report = bench(cfg)
    decode = report["models"]["transformer"]["decode"]
    assert decode["weights"].startswith("trained:") and "train" not in report["models"]["transformer"]
    # The run's own model and test split (24 pairs of the reverse corpus), not the toy stand-in.
    loaded = load_run(transformer_run)
    assert decode["params"] == sum(p.numel() for p in loaded.model.parameters())
    assert decode["split_sentences"] == 24 and decode["greedy_batched"]["sentences"] == 12
    budget = loaded.config.data.get("eval_max_tokens") or loaded.config.data.max_tokens
    assert decode["beam_batched"]["max_tokens"] == budget  # the run's own eval budget by default
    assert f"batched rows: {budget} token positions" in format_report(report)
    # decode_max_tokens=1: the batched rows in batches of one sentence each
    one = bench(
        compose_bench(
            [
                *small,
                f"run={transformer_run}",
                f"cache_dir={tmp_path}",
                "decode_max_tokens=1",
                f"output={tmp_path / 'one.json'}",
            ]
        )
    )["models"]["transformer"]["decode"]
    assert one["beam_batched"]["max_tokens"] == 1 and one["beam_batched"]["batches"] == 12
    assert decode["beam_batched"]["batches"] < 12


@pytest.mark.parametrize("budget", ["0", "-5", "many", "1.5", "true"])
def test_a_bad_decode_budget_fails_before_measuring(tmp_path, budget):
    cfg = compose_bench(
        ["quick=true", f"cache_dir={tmp_path}", f"decode_max_tokens={budget}", f"output={tmp_path / 'b.json'}"]
    )
    with pytest.raises(ConfigError, match=f"(?i)decode_max_tokens={budget}: .* whole number >= 1"):
        bench(cfg)
    assert not any(tmp_path.iterdir())  # nothing measured, prepared or written


@pytest.mark.parametrize(
    "override, message",
    [
        (
            'model_overrides.rnn=["label_smoothing=0.2"]',
            r"^rnn: Could not override 'label_smoothing'\. .*use \+label_smoothing=0\.2$",
        ),
        ('model_overrides.rnn=["data.max_tokens=0"]', r"^rnn: data\.max_tokens=0 must be a positive whole number"),
    ],
)
def test_a_wrong_override_fails_before_the_first_model_is_measured(tmp_path, override, message):
    """The rnn's bad override is found before the transformer (measured first) prepares or trains anything."""
    cfg = compose_bench(
        ["quick=true", "models=[transformer,rnn]", f"cache_dir={tmp_path}", override, f"output={tmp_path / 'b.json'}"]
    )
    with pytest.raises(ConfigError, match=message):
        bench(cfg)
    assert not any(tmp_path.iterdir())


def test_other_load_counts_its_own_children_as_its_own():
    """A bench's decoding worker processes are not "other" load once they have ended."""
    burn = "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass"
    start = time.perf_counter()
    with OtherLoad() as load:
        subprocess.run([sys.executable, "-c", burn], check=True)
    if load.share is not None:  # Linux
        as_others = 0.6 / ((time.perf_counter() - start) * (os.cpu_count() or 1))  # the child's share of the CPUs
        assert load.share < as_others / 2
