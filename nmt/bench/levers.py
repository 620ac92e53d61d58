"""``python -m nmt.bench.levers``: the CPU training levers of each model side by side.

Usage::

    python -m nmt.bench.levers data.root=../shared/data/multi30k overrides=[data.max_tokens=4096] \
        [warmup=5] [steps=40] [models=[transformer,rnn]] [output=<path.json>] [quick=true]

Same config as ``nmt.bench`` (conf/bench.yaml; decoding and profiling are not run). For each model
at its default size, training target tokens/s and MFU with the same warm-up and timed steps for:

* ``1proc_1thread``: one process, one torch thread; MFU against the one-thread matmul peak;
* ``1proc_2threads``: one process, two threads; MFU against the two-thread peak;
* ``2ddp_1thread``: two Lightning DDP processes (gloo) of one thread each, tokens counted over both
  ranks over the slower rank's time; MFU against twice the one-thread peak;
* ``<best>+compile``: the fastest of those three again with ``torch.compile`` (inductor). Its
  ``compile_seconds`` is its warm-up time minus the eager warm-up time; the rate excludes the
  warm-up, but shapes first seen in the timed steps still compile there (batches vary in shape);
  ``compile_row=false`` leaves it out, and ``layouts=[2ddp_1thread]`` measures only the layouts named;
* ``<best>+<variant>``: the fastest layout again, eager, with each entry of ``variants`` (overrides:
  by default half and twice the batch budget, and dropout off, which prices all dropout kernels).

Every measurement runs in fresh processes (``nmt.bench.lever_worker``). Writes one JSON (default
``runs/bench/levers_<date>_<time>.json``) and prints one table.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from nmt.atomic import write_json_atomic
from nmt.bench.config import DataChoice, check_train_config, choose_data, effective_config
from nmt.cli import CONF_DIR, prepare_argv
from nmt.errors import ConfigError, one_line_errors
from nmt.flops import PeakRate, machine_info, peak_matmul_gflops

# name: (processes, threads per process)
LEVERS = {"1proc_1thread": (1, 1), "1proc_2threads": (1, 2), "2ddp_1thread": (2, 1)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_lever(cfg: DictConfig, data: DataChoice, model: str, processes: int, threads: int, compiled: bool) -> dict:
    """Train ``model`` in ``processes`` fresh worker processes of ``threads`` threads; the combined figures."""
    env = os.environ | {"OMP_NUM_THREADS": str(threads)}
    if processes > 1:
        env |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": str(processes)}
        env |= {"NODE_RANK": "0"}
    job = {"model": model, "threads": threads, "devices": processes, "compile": compiled, "data": asdict(data)}
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "job.yaml"
        OmegaConf.save({"cfg": cfg, "job": job}, spec)
        outs = [Path(tmp) / f"rank{r}.json" for r in range(processes)]
        cmd = [sys.executable, "-m", "nmt.bench.lever_worker", str(spec)]
        rank_env = [env | ({"LOCAL_RANK": str(r), "RANK": str(r)} if processes > 1 else {}) for r in range(processes)]
        procs = [subprocess.Popen([*cmd, str(out)], env=e) for out, e in zip(outs, rank_env, strict=True)]
        codes = [p.wait() for p in procs]
        if any(codes):
            raise ConfigError(f"{model} lever {processes}x{threads} compile={compiled}: a worker exited with {codes}")
        ranks = [json.loads(out.read_text()) for out in outs]
    return combine(ranks)


def combine(ranks: list[dict]) -> dict:
    """One row from the ranks' figures: tokens added up over the slowest rank's seconds."""
    seconds = max(r["seconds"] for r in ranks)
    tokens = sum(r["target_tokens"] for r in ranks)
    flops = sum(r["flops_per_target_token"] * r["target_tokens"] for r in ranks)
    return {
        "processes": len(ranks),
        "threads_per_process": ranks[0]["threads"],
        "train_tokens_per_s": round(tokens / seconds, 1),
        "achieved_gflops": round(flops / seconds / 1e9, 3),
        "flops_per_target_token": round(flops / tokens),
        "target_tokens": tokens,
        "seconds": round(seconds, 3),
        "step_ms_median": max(r["step_ms_median"] for r in ranks),
        "warmup_seconds": max(r["warmup_seconds"] for r in ranks),
        "page_faults_per_step": max(r["page_faults_per_step"] for r in ranks),  # of one rank
        "peak_rss_mib": max(r["peak_rss_mib"] for r in ranks),
        "padding_fraction": ranks[0]["padding_fraction"],
        "steps": ranks[0]["steps"],
        "warmup_steps": ranks[0]["warmup_steps"],
        "max_tokens_per_process": ranks[0]["max_tokens"],
    }


def _peak(cfg: DictConfig, threads: int) -> PeakRate:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        return peak_matmul_gflops(int(cfg.peak.size), int(cfg.peak.repeats), int(cfg.peak.trials))
    finally:
        torch.set_num_threads(before)


def _layouts(cfg: DictConfig) -> dict[str, tuple[int, int]]:
    """The layouts of ``LEVERS`` to measure: ``cfg.layouts``, or all of them when it is null."""
    names = list(cfg.get("layouts") or LEVERS)
    unknown = [n for n in names if n not in LEVERS]
    if unknown:
        raise ConfigError(f"layouts: unknown {unknown}; choose from {list(LEVERS)}")
    return {n: LEVERS[n] for n in names}


def check_rows(cfg: DictConfig, data: DataChoice, layouts: dict[str, tuple[int, int]]) -> None:
    """Compose and check the train config of every row to be measured, before anything is measured.

    A wrong key in ``overrides``, ``model_overrides`` or a variant then fails at once, in one line
    naming the row, instead of after the peak and every row before it (minutes each). The plain
    rows run in every layout, so they must compose for each process count; a variant runs only in
    the fastest layout, not known yet, so one process count it composes for is enough (e.g.
    ``trainer.strategy.gradient_as_bucket_view=false`` exists under DDP only).
    """
    counts = sorted({p for p, _ in layouts.values()})
    for model in cfg.models:
        for variant, extra in {"": [], **(cfg.get("variants") or {})}.items():
            varied = cfg.copy()
            varied.overrides = [*cfg.overrides, *extra]
            row = f"{model}+{variant}" if variant else str(model)
            errors = []
            for devices in counts:
                try:
                    check_train_config(varied, str(model), data, devices, f"{row}, {devices} process(es)")
                except ConfigError as err:
                    errors.append(err)
            if errors and (not variant or len(errors) == len(counts)):
                raise errors[0]


def levers(cfg: DictConfig) -> dict:
    """Measure every lever of every model in ``cfg.models``; write and return the report."""
    cfg = effective_config(cfg)
    cfg.profile_steps = 0
    output = Path(cfg.output) if cfg.output else Path("runs/bench") / f"levers_{datetime.now():%Y-%m-%d_%H-%M-%S}.json"
    data = choose_data(cfg)
    layouts = _layouts(cfg)
    plain = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    check_rows(plain, data, layouts)
    samples: dict[int, list[float]] = {1: [], 2: []}
    report: dict = {"created": datetime.now().isoformat(timespec="seconds"), "quick": bool(cfg.quick)}
    report["machine"], report["data"], report["models"] = machine_info(), asdict(data), {}
    for name in cfg.models:
        for t in samples:  # sampled around every model, the best kept (load only lowers a sample)
            samples[t].append(_peak(cfg, t).gflops)
        rows = {lever: run_lever(plain, data, name, p, t, False) for lever, (p, t) in layouts.items()}
        best = max(rows, key=lambda k: rows[k]["train_tokens_per_s"])
        p, t = LEVERS[best]
        if cfg.get("compile_row", True):
            rows[f"{best}+compile"] = compiled = run_lever(plain, data, name, p, t, True)
            compiled["compile_seconds"] = round(compiled["warmup_seconds"] - rows[best]["warmup_seconds"], 3)
        for variant, extra in (cfg.get("variants") or {}).items():
            varied = plain.copy()
            varied.overrides = [*plain.overrides, *extra]
            rows[f"{best}+{variant}"] = {**run_lever(varied, data, name, p, t, False), "overrides": list(extra)}
        report["models"][name] = rows
    for t in samples:
        samples[t].append(_peak(cfg, t).gflops)
    peak1, peak2 = max(samples[1]), max(samples[2])
    report["peak_gflops"] = {"1thread": peak1, "2threads": peak2, "samples": samples, "size": int(cfg.peak.size)}
    for rows in report["models"].values():
        for row in rows.values():
            processes, threads = row["processes"], row["threads_per_process"]
            peak, basis = (
                (peak2, "2-thread peak") if threads == 2 else (processes * peak1, f"{processes}x 1-thread peak")
            )
            row["mfu"], row["mfu_peak_gflops"], row["mfu_peak"] = round(row["achieved_gflops"] / peak, 4), peak, basis
    report["config"] = OmegaConf.to_container(cfg, resolve=True)
    write_json_atomic(output, report)
    report["output"] = str(output)
    return report


def format_levers(report: dict) -> str:
    """The levers of each model side by side: one row per lever."""
    m, pk = report["machine"], report["peak_gflops"]
    lines = [
        f"nmt.bench.levers — torch {m['torch']}, {m['cpu_model']} ({m['cpus']} CPUs)"
        + (" [quick: checks that it runs, not timing]" if report["quick"] else ""),
        f"peak fp32 matmul: {pk['1thread']:.1f} GFLOP/s on 1 thread, {pk['2threads']:.1f} on 2 "
        f"({pk['size']}x{pk['size']})",
        f"data: {report['data']['name']} ({report['data']['reason']})",
        "",
        f"{'model':<12} {'lever':<30} {'tokens/s':>9} {'GFLOP/s':>8} {'mfu':>6} {'mfu vs':<18} "
        f"{'step ms':>8} {'faults/step':>11} {'peak MiB':>8} {'warm-up s':>9} {'compile s':>9}",
    ]
    for name, rows in report["models"].items():
        for lever, r in rows.items():
            compile_s = f"{r['compile_seconds']:>9.1f}" if "compile_seconds" in r else f"{'':>9}"
            lines.append(
                f"{name:<12} {lever:<30} {r['train_tokens_per_s']:>9.0f} {r['achieved_gflops']:>8.2f} "
                f"{r['mfu']:>6.3f} {r['mfu_peak']:<18} {r['step_ms_median']:>8.0f} "
                f"{r.get('page_faults_per_step', 0):>11.0f} {r.get('peak_rss_mib') or 0:>8.0f} "
                f"{r['warmup_seconds']:>9.1f} {compile_s}"
            )
    return "\n".join(lines)


@hydra.main(config_path=str(CONF_DIR), config_name="bench", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors("nmt.bench.levers"):
        report = levers(cfg)
    print(format_levers(report))
    print(f"wrote {report['output']}", file=sys.stderr)


def cli() -> None:
    """``python -m nmt.bench.levers``."""
    prepare_argv("nmt.bench.levers", "bench")
    main()


if __name__ == "__main__":
    cli()
