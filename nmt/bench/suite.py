"""The whole benchmark: each model trained and decoded, the machine's peak sampled around them, one JSON."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from nmt.atomic import write_json_atomic
from nmt.bench.config import DataChoice, check_train_config, choose_data, effective_config, train_config
from nmt.bench.decoding import TestSet, decoding_report, run_test_set
from nmt.bench.training import run_training, training_report
from nmt.checkpoint import LoadedRun, build_model, load_run
from nmt.data import build_datamodule
from nmt.decoding import check_max_tokens
from nmt.errors import ConfigError
from nmt.flops import OtherLoad, PeakRate, machine_info, peak_matmul_gflops, peak_rss_mb, reset_peak_rss


def bench_model(name: str, cfg: DictConfig, data: DataChoice, run: LoadedRun | None) -> dict:
    """Train-speed and decode-speed figures of one model (``name`` in conf/model/)."""
    train_cfg = train_config(cfg, name, data)
    dm = build_datamodule(train_cfg)
    dm.prepare_data()
    dm.setup("fit")
    pl.seed_everything(train_cfg.seed, verbose=False)
    model = build_model(train_cfg.model, dm.vocab)
    out: dict = {"params": sum(p.numel() for p in model.parameters()), "vocab_size": dm.vocab.tgt_size}
    out["net"] = OmegaConf.to_container(train_cfg.model.net)
    if int(cfg.steps) > 0:
        isolated = reset_peak_rss()
        with OtherLoad() as others:
            timer = run_training(train_cfg, dm, model, cfg)
        out["train"] = training_report(timer, model, dm) | {"other_cpu_share": others.share}
        out["train"]["peak_rss_mb"] = peak_rss_mb()
        out["train"]["peak_rss_scope"] = "this model's training" if isolated else "the process so far"
        out["profile"] = timer.profile  # per training step, averaged over profile_steps
    if run is None:
        test = TestSet(dm.datasets["test"], dm.vocab.pad_id, dm.vocab.bos_id, dm.vocab.eos_id, dm.eval_budget)
        weights = f"untrained (random + {cfg.warmup}+{cfg.steps} bench steps): output lengths are not a real model's"
    else:
        model, test = run.model, run_test_set(run, cfg)
        weights = f"trained: {run.checkpoint}"
    if cfg.get("decode_max_tokens") is not None:
        test = replace(test, max_tokens=int(cfg.decode_max_tokens))
    params = sum(p.numel() for p in model.parameters())
    with OtherLoad() as others:
        decoded = decoding_report(model, test, cfg)
    out["decode"] = {"weights": weights, "params": params, **decoded, "other_cpu_share": others.share}
    return out


def _load_runs(cfg: DictConfig) -> dict[str, LoadedRun]:
    """``run=`` (one folder or a list) loaded and keyed by the model name in each run's config."""
    specs = [] if cfg.run is None else [cfg.run] if isinstance(cfg.run, str) else list(cfg.run)
    runs: dict[str, LoadedRun] = {}
    for spec in specs:
        run = load_run(spec, cfg.checkpoint)
        name = str(run.config.model.name)
        if name in runs:
            raise ConfigError(f"run={spec}: a second {name} run (first: {runs[name].run_dir}); give one run per model")
        if name not in cfg.models:
            raise ConfigError(f"run={spec}: a {name} run, but models={list(cfg.models)}; add {name} to models")
        runs[name] = run
    return runs


def _peak(cfg: DictConfig) -> PeakRate:
    return peak_matmul_gflops(int(cfg.peak.size), int(cfg.peak.repeats), int(cfg.peak.trials))


def bench(cfg: DictConfig) -> dict:
    """Run every measurement of ``cfg`` (conf/bench.yaml), write the JSON and return the report.

    torch's thread count is set from ``threads`` for the run and restored afterwards.
    """
    cfg = effective_config(cfg)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(int(cfg.threads or threads))
        return _bench(cfg)
    finally:
        torch.set_num_threads(threads)


def _check_budget(cfg: DictConfig) -> None:
    """``decode_max_tokens``: null or a whole number >= 1, checked before anything is measured."""
    budget = cfg.get("decode_max_tokens")
    if budget is not None:
        check_max_tokens(budget, "decode_max_tokens", "or null for each run's data.eval_max_tokens")


def _bench(cfg: DictConfig) -> dict:
    _check_budget(cfg)
    runs = _load_runs(cfg)  # fail on a bad run folder before minutes of measuring
    data = choose_data(cfg)
    for name in cfg.models:  # and on a wrong override, before the first model's minutes
        check_train_config(cfg, name, data, 1, name)
    output = Path(cfg.output) if cfg.output else Path("runs/bench") / f"{datetime.now():%Y-%m-%d_%H-%M-%S}.json"
    report: dict = {"created": datetime.now().isoformat(timespec="seconds"), "quick": bool(cfg.quick)}
    report["machine"] = machine_info() | {"pytorch_lightning": pl.__version__}
    report["data"] = {**asdict(data), "src_lang": cfg.data.src_lang, "tgt_lang": cfg.data.tgt_lang}
    # The peak is sampled before and after every model and the best sample kept: on a shared
    # machine a single sample taken while another process runs would make every MFU look too good.
    peaks = [_peak(cfg)]
    report["models"] = {}
    for name in cfg.models:
        report["models"][name] = bench_model(name, cfg, data, runs.get(name))
        peaks.append(_peak(cfg))
    best = max(peaks, key=lambda p: p.gflops)
    report["peak_gflops"], report["peak"] = best.gflops, asdict(best) | {"samples": [p.gflops for p in peaks]}
    for model in report["models"].values():
        if "train" in model:
            model["train"]["mfu"] = round(model["train"]["achieved_gflops"] / best.gflops, 4)
    report["config"] = OmegaConf.to_container(cfg, resolve=True)
    write_json_atomic(output, report)
    report["output"] = str(output)
    return report
