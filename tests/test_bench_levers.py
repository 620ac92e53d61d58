"""nmt.bench.levers: ranks combined into one row, and the quick run reporting every lever's row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from nmt.bench.levers import LEVERS, combine, format_levers, levers

CONF = Path(__file__).resolve().parents[1] / "conf"


def rank(tokens: int, seconds: float, flops_per_token: int, warmup: float) -> dict:
    return {
        "seconds": seconds,
        "target_tokens": tokens,
        "flops_per_target_token": flops_per_token,
        "threads": 1,
        "step_ms_median": 10 * seconds,
        "warmup_seconds": warmup,
        "padding_fraction": 0.1,
        "steps": 4,
        "warmup_steps": 1,
        "max_tokens": 256,
        "page_faults_per_step": 0,
        "peak_rss_mib": 0.0,
    }


def test_ranks_add_tokens_over_the_slowest_rank():
    row = combine([rank(300, 2.0, 1000, 1.0), rank(100, 4.0, 4000, 3.0)])
    assert row["processes"] == 2 and row["target_tokens"] == 400
    assert row["train_tokens_per_s"] == 100.0  # 400 tokens over the slower rank's 4 s
    assert row["flops_per_target_token"] == 1750  # (300·1000 + 100·4000) / 400
    assert row["achieved_gflops"] == pytest.approx(700_000 / 4 / 1e9, abs=1e-3)
    assert row["warmup_seconds"] == 3.0 and row["step_ms_median"] == 40.0


def test_a_row_reports_the_worst_rank_for_page_faults_and_memory():
    ranks = [rank(300, 2.0, 1000, 1.0), rank(100, 4.0, 4000, 3.0)]
    ranks[0] |= {"page_faults_per_step": 150_000, "peak_rss_mib": 1800.0}
    ranks[1] |= {"page_faults_per_step": 2_000, "peak_rss_mib": 2100.5}
    row = combine(ranks)
    assert row["page_faults_per_step"] == 150_000 and row["peak_rss_mib"] == 2100.5


@pytest.mark.slow
def test_quick_levers_report_every_row(tmp_path):
    out = tmp_path / "levers.json"
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            config_name="bench",
            overrides=[
                "quick=true",
                "models=[transformer]",
                f"cache_dir={tmp_path / 'cache'}",
                f"output={out}",
                "~variants",  # one variant instead of the default three: each row is a fresh process
                '+variants={no_dropout: ["model.net.dropout=0.0"]}',
            ],
        )
    report = levers(cfg)
    written = json.loads(out.read_text())
    rows = written["models"]["transformer"]
    compiled = [k for k in rows if k.endswith("+compile")]
    varied = [k for k in rows if k.endswith("+no_dropout")]
    assert set(rows) == set(LEVERS) | set(compiled) | set(varied) and len(compiled) == len(varied) == 1
    assert varied[0].removesuffix("+no_dropout") == compiled[0].removesuffix("+compile")  # at the fastest layout
    assert rows[varied[0]]["overrides"] == ["model.net.dropout=0.0"]
    assert rows[compiled[0].removesuffix("+compile")]["processes"] == rows[compiled[0]]["processes"]
    peak = written["peak_gflops"]
    assert peak["1thread"] > 0 and peak["2threads"] > 0
    assert rows["2ddp_1thread"]["processes"] == 2 and rows["2ddp_1thread"]["mfu_peak_gflops"] == 2 * peak["1thread"]
    assert (
        rows["1proc_2threads"]["threads_per_process"] == 2
        and rows["1proc_2threads"]["mfu_peak_gflops"] == peak["2threads"]
    )
    for row in rows.values():
        assert row["train_tokens_per_s"] > 0 and row["steps"] == 2 and row["mfu_peak_gflops"] > 0
        # MFU against the row's own peak (rounded: a tiny quick model's may round to 0)
        assert row["mfu"] == round(row["achieved_gflops"] / row["mfu_peak_gflops"], 4)
        assert row["page_faults_per_step"] >= 0 and row["peak_rss_mib"] > 0
    assert "compile_seconds" in rows[compiled[0]]
    table = format_levers(report)
    assert all(name in table for name in rows) and "faults/step" in table


def test_compile_row_false_leaves_the_compiled_run_out(tmp_path, monkeypatch):
    import nmt.bench.levers as levers_module

    calls = []

    def fake_lever(cfg, data, model, processes, threads, compiled):
        calls.append(compiled)
        return combine([rank(100 * processes * threads, 1.0, 1000, 0.5)] * processes)

    monkeypatch.setattr(levers_module, "run_lever", fake_lever)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            config_name="bench",
            overrides=["quick=true", "models=[rnn]", f"cache_dir={tmp_path / 'cache'}", f"output={tmp_path / 'l.json'}"]
            + ["compile_row=false", "~variants"],
        )
    rows = levers(cfg)["models"]["rnn"]
    assert set(rows) == set(LEVERS) and calls == [False] * len(LEVERS)  # nothing compiled


def test_layouts_limit_the_rows_and_unknown_ones_are_refused(tmp_path, monkeypatch):
    import nmt.bench.levers as levers_module
    from nmt.errors import ConfigError

    monkeypatch.setattr(
        levers_module, "run_lever", lambda cfg, data, model, p, t, compiled: combine([rank(100, 1, 1, 0)] * p)
    )
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        base = ["quick=true", "models=[rnn]", f"cache_dir={tmp_path / 'cache'}", f"output={tmp_path / 'l.json'}"]
        cfg = compose(config_name="bench", overrides=[*base, "layouts=[2ddp_1thread]", "compile_row=false"])
        wrong = compose(config_name="bench", overrides=[*base, "layouts=[4ddp]"])
    cfg.variants = {"compile_loss": ["train.compile_loss=true"]}
    rows = levers(cfg)["models"]["rnn"]
    assert set(rows) == {"2ddp_1thread", "2ddp_1thread+compile_loss"}
    assert rows["2ddp_1thread+compile_loss"]["overrides"] == ["train.compile_loss=true"]
    with pytest.raises(ConfigError, match=r"layouts: unknown \['4ddp'\]"):
        levers(wrong)


@pytest.mark.parametrize(
    "variant, message",
    [
        ('+variants={smooth: ["label_smoothing=0.2"]}', r"^transformer\+smooth, 1 process\(es\): Could not override"),
        (
            '+variants={budget: ["data.max_tokens=0"]}',
            r"^transformer\+budget, 1 process\(es\): data\.max_tokens=0",
        ),
    ],
)
def test_a_wrong_variant_fails_before_anything_is_measured(tmp_path, monkeypatch, variant, message):
    """A bad override in a variant (measured last, after every layout and the compiled row) is one line at once."""
    import nmt.bench.levers as levers_module
    from nmt.errors import ConfigError

    measured = []
    monkeypatch.setattr(levers_module, "run_lever", lambda *args: measured.append(args))
    monkeypatch.setattr(levers_module, "_peak", lambda *args: measured.append(args))
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            config_name="bench",
            overrides=["quick=true", "models=[transformer,rnn]", f"cache_dir={tmp_path / 'cache'}"]
            + [f"output={tmp_path / 'l.json'}", "~variants", variant],
        )
    with pytest.raises(ConfigError, match=message):
        levers(cfg)
    assert measured == [] and not any(tmp_path.iterdir())


def test_a_variant_that_exists_under_ddp_only_passes_the_check(tmp_path, monkeypatch):
    """A variant runs at the fastest layout alone: one process count it composes for is enough."""
    import nmt.bench.levers as levers_module

    def fake_lever(cfg, data, model, processes, threads, compiled):
        return combine([rank(100 * processes, 1.0, 1000, 0.5)] * processes)  # two DDP processes are fastest

    monkeypatch.setattr(levers_module, "run_lever", fake_lever)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            config_name="bench",
            overrides=["quick=true", "models=[rnn]", f"cache_dir={tmp_path / 'cache'}", f"output={tmp_path / 'l.json'}"]
            + [
                "compile_row=false",
                "~variants",
                '+variants={copies: ["trainer.strategy.gradient_as_bucket_view=false"]}',
            ],
        )
    rows = levers(cfg)["models"]["rnn"]
    assert set(rows) == set(LEVERS) | {"2ddp_1thread+copies"}
