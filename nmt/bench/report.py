"""The targets of issue 7 and the printed summary of a benchmark report."""

from __future__ import annotations

TARGETS = {"transformer_mfu": 0.40, "rnn_mfu": 0.15, "padding": 0.10, "beam_batching": 5.0, "greedy_vs_beam": 2.0}


def check_targets(models: dict[str, dict]) -> list[dict]:
    """The targets of issue 7, each with its value and PASS (True) or MISS (False)."""
    checks = []

    def add(label: str, value: float | None, threshold: float, at_least: bool) -> None:
        if value is not None:
            ok = value >= threshold if at_least else value <= threshold
            checks.append({"target": label, "value": value, "threshold": threshold, "pass": bool(ok)})

    for name, m in models.items():
        train, dec = m.get("train") or {}, m["decode"]
        if name in ("transformer", "rnn"):
            add(f"{name} mfu >= {TARGETS[name + '_mfu']:.2f}", train.get("mfu"), TARGETS[name + "_mfu"], True)
        add(f"{name} padding <= {TARGETS['padding']:.0%}", train.get("padding_fraction"), TARGETS["padding"], False)
        add(f"{name} beam batched >= 5x sequential", dec["beam_batched_vs_sequential"], TARGETS["beam_batching"], True)
        add(f"{name} greedy >= 2x beam (batched)", dec["greedy_vs_beam_batched"], TARGETS["greedy_vs_beam"], True)
    return checks


def format_report(report: dict) -> str:
    """The printed summary: machine and peak, one training row per model, decoding rows, targets."""
    m, p, d = report["machine"], report["peak"], report["data"]
    lines = [
        f"nmt.bench — torch {m['torch']}, {m['threads']} threads, {m['cpu_model']} ({m['cpus']} CPUs)"
        + (" [quick: checks that it runs, not timing]" if report["quick"] else ""),
        f"peak fp32 matmul: {report['peak_gflops']:.1f} GFLOP/s ({p['size']}x{p['size']}, {p['threads']} threads, "
        f"best of {len(p['samples'])} samples)",
        f"data: {d['name']} {d['src_lang']}-{d['tgt_lang']} ({d['reason']})",
        "",
        f"{'training':<12} {'tokens/s':>9} {'GFLOP/tok':>9} {'GFLOP/s':>8} {'mfu':>6} {'padding':>8} "
        f"{'RSS MB':>7} {'steps':>5} {'seconds':>8} {'others':>6}",
    ]
    for name, r in report["models"].items():
        if t := r.get("train"):
            lines.append(
                f"{name:<12} {t['train_tokens_per_s']:>9.0f} {t['flops_per_target_token'] / 1e9:>9.4f} "
                f"{t['achieved_gflops']:>8.2f} {t['mfu']:>6.3f} {t['padding_fraction']:>8.1%} {t['peak_rss_mb']:>7.0f} "
                f"{t['steps']:>5} {t['seconds']:>8.2f} {_share(t['other_cpu_share']):>6}"
            )
    lines += [
        "",
        f"{'decoding':<12} {'search':<8} {'batching':<10} {'sent':>5} {'sent/s':>8} {'out len':>7} {'ref len':>7} "
        f"{'max len':>7}",
    ]
    for name, r in report["models"].items():
        dec = r["decode"]
        for key in ("greedy_batched", "greedy_sequential", "beam_batched", "beam_sequential"):
            x = dec[key]
            search, batching = key.split("_")
            search = f"beam{dec['beam']['beam_size']}" if search == "beam" else search
            lines.append(
                f"{name:<12} {search:<8} {batching:<10} {x['sentences']:>5} {x['sentences_per_s']:>8.2f} "
                f"{x['mean_output_len']:>7.1f} {x['mean_reference_len']:>7.1f} {x['mean_max_len']:>7.1f}"
            )
        lines.append(f"{'':<12} weights: {dec['weights']}; others used {_share(dec['other_cpu_share'])} of the CPUs")
    lines += ["", "'others': share of all CPUs other processes kept busy meanwhile; above ~5% the timings are noisy"]
    lines += ["", "targets (issue 7)"]
    lines += [f"  {c['target']:<42} {c['value']:>8.3f}  {'PASS' if c['pass'] else 'MISS'}" for c in report["targets"]]
    return "\n".join(lines)


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def format_profile(report: dict) -> str:
    """The profiled training steps of each model: top operations by self CPU time, per step."""
    lines = []
    for name, r in report["models"].items():
        if not r.get("profile"):
            continue
        steps = report["config"]["profile_steps"]
        lines += ["", f"{name}: top ops by self CPU time per training step (mean of {steps} profiled steps)"]
        lines += [f"  {'op':<52} {'self ms':>9} {'%':>6} {'total ms':>9} {'calls':>6}"]
        for e in r["profile"]:
            op = e["op"] if len(e["op"]) <= 52 else e["op"][:49] + "..."
            ms = f"{e['self_cpu_ms']:>9.2f} {e['self_cpu_pct']:>6.1f} {e['cpu_total_ms']:>9.2f}"
            lines.append(f"  {op:<52} {ms} {e['calls']:>6g}")
    return "\n".join(lines)
