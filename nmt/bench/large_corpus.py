"""``python -m nmt.bench.large_corpus``: preparing and training from the store at millions of pairs.

Generates a large parallel corpus from the toy grammar (English-German, streamed to plain files:
a benchmark input, never committed), then measures, each phase in its own process so that its peak
resident memory is its own:

* ``vocab``: read (count) and fingerprint the corpus, draw SentencePiece's sample and train it:
  wall time and peak RSS (bounded by the sample, not by the corpus);
* ``store``: encode and write the store, as ``nmt.prepare`` does (the vocabulary now cached): wall
  time, peak RSS of the main process and of the largest encoding worker, disk size, and pairs/s
  beside SentencePiece's own one-thread encoding rate × workers;
* ``train``: ``steps`` training steps of the default Transformer read from the store: target
  tokens/s (after ``warmup`` steps) and peak RSS;

and the same three phases on Multi30k (``multi30k=<root>``) for comparison. Writes ``report.json``
and ``report.md`` into ``out``::

    python -m nmt.bench.large_corpus pairs=5000000 workers=2 workdir=/tmp/large \\
        multi30k=../shared/data/multi30k out=docs/results/large-corpus

Keys: pairs, workers, steps, warmup, max_tokens, threads, workdir (corpus, caches; delete it
afterwards), out, multi30k (null: skip), keep_corpus (reuse a generated corpus of the same size),
phases (which of vocab,store,train to run, e.g. ``phases=vocab``), sample_lines (null: the data
config's ``data.vocab.sample_lines``).
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from nmt.atomic import write_json_atomic, write_text_atomic

DEFAULTS = {
    "pairs": 5_000_000,
    "workers": 2,
    "steps": 120,
    "warmup": 20,
    "max_tokens": 4096,
    "threads": 1,
    "workdir": "/tmp/nmt-large-corpus",
    "out": "docs/results/large-corpus",
    "multi30k": None,
    "keep_corpus": True,
    "phases": "vocab,store,train",
    "sample_lines": None,
    "phase": None,
    "data": None,
}
PHASES = ("vocab", "store", "train")


def _peak_mb() -> dict[str, float]:
    """Peak RSS of this process and of its largest finished child (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_rss_mb": round(own, 1), "peak_rss_worker_mb": round(child, 1)}


# ----------------------------------------------------------------------------- the corpus
def generate(root: Path, pairs: int, seed: int = 1) -> dict[str, Any]:
    """Write ``pairs`` toy-grammar training pairs (repeats allowed) and the toy corpus's val/test splits."""
    from nmt.corpora.toy import MAX_LEN, MIN_LEN, load_toy, write_toy
    from nmt.corpora.toy_grammar import sentence

    root.mkdir(parents=True, exist_ok=True)
    small = load_toy(n_train=0, n_val=500, n_test=500)
    write_toy(small, root)
    rng, written = random.Random(seed), 0
    with (root / "train.en").open("w", encoding="utf-8") as en, (root / "train.de").open("w", encoding="utf-8") as de:
        while written < pairs:
            src, tgt = sentence(rng)
            if MIN_LEN <= len(src) <= MAX_LEN and MIN_LEN <= len(tgt) <= MAX_LEN:
                en.write(" ".join(t[0] for t in src) + "\n")
                de.write(" ".join(w for w, _ in tgt) + "\n")
                written += 1
    return {"pairs": written, "bytes": sum((root / f"train.{x}").stat().st_size for x in ("en", "de"))}


def _cache_dir(args: DictConfig, data: str) -> Path:
    return Path(args.workdir) / f"cache-{data}"


def _train_cfg(args: DictConfig, data: str) -> DictConfig:
    from nmt.bench.config import compose_train

    work = Path(args.workdir)
    if data == "multi30k":
        over = ["data=multi30k", f"data.root={args.multi30k}", f"cache_dir={_cache_dir(args, data)}"]
    else:
        corpus = work / "corpus"
        files = [f"data.{s}.{x}={corpus / f'{s}.{lang}'}" for s in ("train", "val", "test") for x, lang in
                 (("src", "en"), ("tgt", "de"))]  # fmt: skip
        over = ["data=custom", "data.src_lang=en", "data.tgt_lang=de", *files, f"cache_dir={_cache_dir(args, data)}"]
    cfg = compose_train(["model=transformer", *over, f"data.max_tokens={args.max_tokens}"])
    cfg.data.prepare_workers = int(args.workers)
    if args.sample_lines is not None:
        cfg.data.vocab.sample_lines = int(args.sample_lines)
    return cfg


# ----------------------------------------------------------------------------- phases (own processes)
def phase_vocab(args: DictConfig, data: str) -> dict[str, Any]:
    """The vocabulary from scratch: read (count) the corpus, fingerprint it, sample it, train SentencePiece.

    ``peak_rss_mb_read`` is the peak after reading, counting and fingerprinting (before sampling).
    """
    from dataclasses import asdict

    from nmt.data import build_datamodule
    from nmt.vocab import Vocab, cache_key

    start = time.perf_counter()
    dm = build_datamodule(_train_cfg(args, data))
    corpus = dm.corpus_fn()
    cache_key(corpus, dm.vocab_settings)  # reads the split once: fingerprint and count, remembered
    read, read_peak = time.perf_counter(), _peak_mb()["peak_rss_mb"]
    vocab = Vocab.build(corpus, cache_dir=dm.cache_dir, **asdict(dm.vocab_settings))
    return {
        "seconds": round(time.perf_counter() - start, 1),
        "seconds_corpus": round(read - start, 1),
        "sample_lines": dm.vocab_settings.sample_lines,
        "sampled": dm.vocab_settings.samples(len(corpus.splits["train"])),
        "vocab_pieces": vocab.src_size,
        "peak_rss_mb_read": read_peak,
        **_peak_mb(),
    }


def phase_store(args: DictConfig, data: str) -> dict[str, Any]:
    """The store from scratch (the vocabulary cached); then SentencePiece's own rate on 20k pairs."""
    from dataclasses import asdict

    from nmt.data import build_datamodule
    from nmt.vocab import Vocab

    start = time.perf_counter()
    dm = build_datamodule(_train_cfg(args, data))
    corpus = dm.corpus_fn()
    dm.corpus = corpus
    vocab = Vocab.build(corpus, cache_dir=dm.cache_dir, **asdict(dm.vocab_settings))  # cached: fingerprint only
    opened = time.perf_counter()
    store = dm.prepare_store()
    end = time.perf_counter()
    peaks = _peak_mb()
    split = corpus.splits["train"]
    sample = [pair for _, pair in zip(range(20_000), zip(split.src, split.tgt, strict=True), strict=False)]
    t0 = time.perf_counter()
    vocab.encode_src([s for s, _ in sample], num_threads=1)  # one thread, as in each encoding worker
    vocab.encode_tgt([t for _, t in sample], num_threads=1)
    spm_rate = len(sample) / (time.perf_counter() - t0)
    return {
        "pairs": len(store),
        "seconds": round(end - start, 1),
        "seconds_fingerprint": round(opened - start, 1),
        "seconds_encode": round(end - opened, 1),
        **peaks,
        "disk_mb": round(store.disk_bytes() / 2**20, 1),
        "dtype": store.dtype.name,
        "shards": len(store.manifest["shards"]),
        "sentencepiece_pairs_per_s_one_thread": round(spm_rate),
    }


def phase_train(args: DictConfig, data: str) -> dict[str, Any]:
    """``steps`` optimiser steps of the Transformer from the store; tokens/s after ``warmup`` steps."""
    import pytorch_lightning as pl
    import torch
    from hydra.utils import instantiate

    from nmt.checkpoint import build_model
    from nmt.data import build_datamodule
    from nmt.module import Seq2SeqModule

    torch.set_num_threads(int(args.threads))
    cfg = _train_cfg(args, data)
    pl.seed_everything(0, verbose=False)
    dm = build_datamodule(cfg)
    dm.setup("fit")
    model = build_model(cfg.model, dm.vocab)
    module = Seq2SeqModule(model, instantiate(cfg.model.optimizer), instantiate(cfg.model.scheduler))
    marks: dict[str, float] = {}

    class Clock(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if trainer.global_step == int(args.warmup):
                marks["start"], marks["tokens"] = time.perf_counter(), pl_module.train_tokens

    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_steps=int(args.steps), limit_val_batches=0, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        use_distributed_sampler=False, callbacks=[Clock()],
    )  # fmt: skip
    trainer.fit(module, train_dataloaders=dm.train_dataloader())
    seconds = time.perf_counter() - marks["start"]
    tokens = module.train_tokens - marks["tokens"]
    return {
        "train_pairs": len(dm.datasets["train"]),
        "vocab_pieces": dm.vocab.src_size,
        "params": sum(p.numel() for p in model.parameters()),
        "timed_steps": int(args.steps) - int(args.warmup),
        "target_tokens_per_s": round(tokens / seconds, 1),
        **_peak_mb(),
    }


# ----------------------------------------------------------------------------- driver
def _run_phase(args: DictConfig, phase: str, data: str) -> dict[str, Any]:
    """Run one phase in a fresh interpreter; its JSON result comes back on the last line of stdout."""
    dotlist = [f"{k}={v}" for k, v in args.items() if k not in ("phase", "data") and v is not None]
    command = [sys.executable, "-m", "nmt.bench.large_corpus", *dotlist, f"phase={phase}", f"data={data}"]
    start = time.perf_counter()
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = round(time.perf_counter() - start, 1)
    print(f"{phase} {data}: {result}", file=sys.stderr, flush=True)
    return result


def _markdown(report: dict[str, Any]) -> str:
    rows = [("", "large (toy grammar)", "Multi30k en-de")]
    v, p, t = report["vocab"], report["store"], report["train"]

    def cell(part: dict, data: str, key: str) -> str:
        value = part.get(data, {}).get(key)
        return "–" if value is None else f"{value:,}" if isinstance(value, int | float) else str(value)

    for label, part, key in (
        ("training pairs", p, "pairs"),
        ("vocabulary: wall time (s; read, fingerprint, sample, SentencePiece)", v, "seconds"),
        ("vocabulary: SentencePiece sample, at most (lines)", v, "sample_lines"),
        ("vocabulary: peak RSS after reading and fingerprinting (MB)", v, "peak_rss_mb_read"),
        ("vocabulary: peak RSS (MB)", v, "peak_rss_mb"),
        ("vocabulary pieces", v, "vocab_pieces"),
        ("store: wall time (s)", p, "seconds"),
        ("store: of which fingerprinting the text (s)", p, "seconds_fingerprint"),
        ("store: of which encoding and writing (s)", p, "seconds_encode"),
        ("store: peak RSS, main process (MB)", p, "peak_rss_mb"),
        ("store: peak RSS, largest encoding worker (MB)", p, "peak_rss_worker_mb"),
        ("store: pairs/s encoded and written", p, "pairs_per_s"),
        ("SentencePiece alone, one thread: pairs/s × workers", p, "spm_rate_x_workers"),
        ("store on disk (MB)", p, "disk_mb"),
        ("train: target tokens/s", t, "target_tokens_per_s"),
        ("train: peak RSS (MB)", t, "peak_rss_mb"),
    ):
        rows.append((label, cell(part, "large", key), cell(part, "multi30k", key)))
    lines = [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines.insert(1, "|---|---:|---:|")
    return (
        f"# Large corpus: store preparation and training\n\n{report['command']}\n\n" + "\n".join(lines) + "\n\n"
        f"Machine: {report['machine']}; load average before/after: {report['load']}. Generating the corpus "
        f"took {report['generate'].get('seconds', '–')} s ({report['generate'].get('bytes', 0) / 2**20:,.0f} MB "
        "of text, not kept). The training split is streamed from its files (never held in memory); "
        "SentencePiece trains on a seeded sample of at most data.vocab.sample_lines lines (both sides "
        "of a joint vocabulary count). Training figures: "
        f"{report['args']['steps'] - report['args']['warmup']} timed steps of the default Transformer at "
        f"data.max_tokens={report['args']['max_tokens']}, {report['args']['threads']} thread(s), "
        "validation off; the vocabularies differ in size (toy text has few word types), so tokens/s differ "
        "by the output layer's cost as well.\n"
    )


def main(args: DictConfig) -> None:
    if args.phase is not None:  # a child: one phase, its result as JSON on the last line
        result = {"vocab": phase_vocab, "store": phase_store, "train": phase_train}[args.phase](args, args.data)
        print(json.dumps(result))
        return
    phases = [p.strip() for p in str(args.phases).split(",")]
    if not phases or set(phases) - set(PHASES):
        raise SystemExit(f"nmt.bench.large_corpus: phases={args.phases}: a comma list of {','.join(PHASES)}")
    work = Path(args.workdir)
    corpus = work / "corpus"
    report: dict[str, Any] = {"args": OmegaConf.to_container(args), "vocab": {}, "store": {}, "train": {}}
    report["command"] = "`python -m nmt.bench.large_corpus " + " ".join(sys.argv[1:]) + "`"
    report["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    load = [os.getloadavg()[0]]
    marker = corpus / f".generated-{args.pairs}"
    if not (args.keep_corpus and marker.is_file()):
        start = time.perf_counter()
        report["generate"] = {**generate(corpus, int(args.pairs)), "seconds": round(time.perf_counter() - start, 1)}
        marker.write_text(json.dumps(report["generate"]))
    else:
        report["generate"] = json.loads(marker.read_text())
    for data in ["large"] + (["multi30k"] if args.multi30k else []):
        shutil.rmtree(_cache_dir(args, data), ignore_errors=True)  # from scratch: no vocabulary, no store
        for phase in (p for p in PHASES if p in phases):
            result = _run_phase(args, phase, data)
            if phase == "store":
                result["pairs_per_s"] = round(result["pairs"] / result["seconds_encode"])
                result["spm_rate_x_workers"] = result["sentencepiece_pairs_per_s_one_thread"] * max(
                    1, int(args.workers)
                )
            report[phase][data] = result
    load.append(os.getloadavg()[0])
    report["load"] = " / ".join(f"{x:.1f}" for x in load)
    out = Path(args.out)
    write_json_atomic(out / "report.json", report)
    write_text_atomic(out / "report.md", _markdown(report))
    print(_markdown(report))


if __name__ == "__main__":
    given = OmegaConf.from_dotlist(sys.argv[1:])
    unknown = set(given) - set(DEFAULTS)
    if unknown:
        raise SystemExit(f"nmt.bench.large_corpus: unknown key(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    main(OmegaConf.merge(OmegaConf.create(DEFAULTS), given))
