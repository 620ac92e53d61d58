"""The printed summary of a benchmark report."""

from __future__ import annotations

import re

ROW = re.compile(r"(greedy|beam)_(batched(_\d+proc)?|sequential)")  # the timed decoding rows of a report


def format_report(report: dict) -> str:
    """The printed summary: machine and peak, one training row per model, decoding rows."""
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
        for key in sorted((k for k in dec if ROW.fullmatch(k)), key=_row_order):
            x = dec[key]
            search, batching = key.split("_", 1)
            batching = batching.replace("batched_", "").replace("proc", " procs")
            if search == "beam":
                stop = dec["beam"].get("stopping", "exact")
                search = f"beam{dec['beam']['beam_size']}" + ("" if stop == "exact" else f" {stop}")
            lines.append(
                f"{name:<12} {search:<8} {batching:<10} {x['sentences']:>5} {x['sentences_per_s']:>8.2f} "
                f"{x['mean_output_len']:>7.1f} {x['mean_reference_len']:>7.1f} {x['mean_max_len']:>7.1f}"
            )
        budget = dec.get("beam_batched", {}).get("max_tokens")  # absent in reports written before it was kept
        batches = f"; batched rows: {budget} token positions per batch" if budget else ""
        lines.append(
            f"{'':<12} weights: {dec['weights']}{batches}; others used {_share(dec['other_cpu_share'])} of the CPUs"
        )
    lines += ["", "'others': share of all CPUs other processes kept busy meanwhile; above ~5% the timings are noisy"]
    return "\n".join(lines)


def _row_order(key: str) -> tuple[int, int]:
    """greedy before beam; batched, then batched in more processes, then one sentence at a time."""
    search, batching = key.split("_", 1)
    procs = int(batching.split("_")[1].removesuffix("proc")) if batching.startswith("batched_") else 1
    return (search == "beam", procs if batching.startswith("batched") else 10**6)


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
