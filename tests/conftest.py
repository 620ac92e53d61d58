"""Shared fixtures: tiny corpora and tiny trained run folders, built once per test session."""

from __future__ import annotations

import os
import random
import runpy
import sys
import warnings
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

CONF = Path(__file__).resolve().parents[1] / "conf"
MULTI30K = Path(os.environ.get("NMT_MULTI30K_ROOT", Path(__file__).resolve().parents[2] / "shared/data/multi30k"))

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma".split()

# Trained long enough (about 10 s each) to translate the reversal task (test BLEU ~40 and ~90), so
# that reload and decoding tests compare real, non-empty translations.
TINY_MODELS = {
    "transformer": [
        "model.net.d_model=32",
        "model.net.n_heads=4",
        "model.net.enc_layers=2",
        "model.net.dec_layers=2",
        "model.net.d_ff=64",
        "model.scheduler.warmup_steps=50",
        "model.optimizer.lr=5e-3",
        "trainer.max_epochs=40",
    ],
    "rnn": [
        "model.net.emb_dim=32",
        "model.net.hidden_dim=32",
        "model.net.attn_dim=32",
        "model.optimizer.lr=5e-3",
        "trainer.max_epochs=20",
    ],
}


def write_reverse_corpus(root: Path, n_train: int = 400, n_eval: int = 24, seed: int = 0) -> dict[str, dict]:
    """A word-reversal task written as custom files: source words reversed, with gold alignments."""
    rng = random.Random(seed)
    seen: set[str] = set()
    splits: dict[str, dict] = {}
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("val", n_eval), ("test", n_eval)):
        src, tgt, align = [], [], []
        while len(src) < n:
            words = [rng.choice(WORDS) for _ in range(rng.randint(2, 6))]
            line = " ".join(words)
            if line in seen:
                continue
            seen.add(line)
            src.append(line)
            tgt.append(" ".join(w.upper() for w in reversed(words)))
            align.append(" ".join(f"{i}-{len(words) - 1 - i}" for i in range(len(words))))
        for name, lines in (("src", src), ("tgt", tgt), ("align", align)):
            (root / f"{split}.{name}").write_text("\n".join(lines) + "\n", encoding="utf-8")
        splits[split] = {k: str(root / f"{split}.{k}") for k in ("src", "tgt", "align")}
    return splits


def tiny_overrides(corpus_dir: Path, cache_dir: Path, model: str) -> list[str]:
    """Hydra overrides for a run of a few seconds on the reverse corpus."""
    files = [
        f"data.{s}.{k}={corpus_dir / f'{s}.{k}'}" for s in ("train", "val", "test") for k in ("src", "tgt", "align")
    ]
    return [
        f"model={model}",
        "data=custom",
        "data.src_lang=xx",
        "data.tgt_lang=yy",
        *files,
        "data.vocab.size=100",
        "data.max_tokens=512",
        f"cache_dir={cache_dir}",
        "trainer.enable_progress_bar=false",
        "trainer.log_every_n_steps=5",
        "callbacks.heatmaps.every_n_validations=10",
        "decode.beam_size=3",
        *TINY_MODELS[model],
    ]


def run_command(module: str, args: list[str], monkeypatch) -> int:
    """Run ``python -m <module> <args>`` in this process (``runpy``, ``sys.argv`` set as a shell
    would set it); returns its exit status."""
    monkeypatch.setattr(sys, "argv", [module, *args])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*found in sys.modules", category=RuntimeWarning)
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=False)
        except SystemExit as done:
            return 0 if done.code is None else done.code if isinstance(done.code, int) else 1
    return 0


def compose_train(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models decode fastest on one thread; modules opt in with ``pytestmark``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def reverse_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reverse")
    write_reverse_corpus(root)
    return root


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _trained_run(model: str, reverse_corpus: Path, cache_dir: Path, tmp_path_factory) -> Path:
    from nmt.training import train

    run_dir = tmp_path_factory.mktemp(f"run-{model}")
    cfg = compose_train(tiny_overrides(reverse_corpus, cache_dir, model))
    train(cfg, run_dir)
    return run_dir


@pytest.fixture(scope="session")
def transformer_run(reverse_corpus, cache_dir, tmp_path_factory) -> Path:
    """A run folder of a tiny Transformer trained for a few seconds (config, vocab, checkpoints, results)."""
    return _trained_run("transformer", reverse_corpus, cache_dir, tmp_path_factory)


@pytest.fixture(scope="session")
def rnn_run(reverse_corpus, cache_dir, tmp_path_factory) -> Path:
    """A run folder of a tiny Bahdanau RNN trained for a few seconds."""
    return _trained_run("rnn", reverse_corpus, cache_dir, tmp_path_factory)
