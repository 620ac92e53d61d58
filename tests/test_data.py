"""TranslationDataModule end to end on a tiny synthetic corpus."""

from __future__ import annotations

import json
import logging
import random

import pytest
import pytorch_lightning as pl
import sentencepiece as spm
import torch
from omegaconf import OmegaConf

from nmt.batch import Batch
from nmt.corpora.base import ParallelCorpus, ParallelSplit
from nmt.data import TranslationDataModule, ids_fingerprint

WORDS = "the a cat dog sees runs under small big red house garden near old man woman child".split()
VOCAB = {"size": 80, "model_type": "unigram", "joint": True, "character_coverage": 1.0}
MAX_LEN = 40
N_LONG = 5  # over-long training pairs


def _sentence(rng: random.Random, n_words: int) -> str:
    body = " ".join(rng.choice(WORDS) for _ in range(n_words))
    return body[0].upper() + body[1:] + rng.choice(".!?")


def make_corpus(seed: int = 0, test_extra: str = "") -> ParallelCorpus:
    """Train/val/test pairs; the target reverses each word. Train has N_LONG over-long pairs,
    val one over-long source; test has gold alignments."""
    rng = random.Random(seed)

    def pairs(n: int, n_long: int) -> tuple[list[str], list[str]]:
        src = [_sentence(rng, rng.randint(2, 9)) for _ in range(n)]
        for k in rng.sample(range(n), n_long):
            src[k] = _sentence(rng, 60)
        return src, [" ".join(w[::-1] for w in s.split()) for s in src]

    train, val, test = pairs(300, N_LONG), pairs(40, 1), pairs(30, 0)
    test_src = [s + test_extra for s in test[0]]
    gold = [" ".join(f"{i}-{i}" for i in range(len(s.split()))) for s in test_src]
    return ParallelCorpus(
        "tiny",
        "xx",
        "yy",
        {
            "train": ParallelSplit("train", *train),
            "val": ParallelSplit("val", *val),
            "test": ParallelSplit("test", test_src, test[1], gold),
        },
    )


class CorpusFn:
    """A corpus callable that counts its calls."""

    def __init__(self, corpus: ParallelCorpus) -> None:
        self.corpus, self.calls = corpus, 0

    def __call__(self) -> ParallelCorpus:
        self.calls += 1
        return self.corpus


@pytest.fixture(scope="module")
def corpus() -> ParallelCorpus:
    return make_corpus()


@pytest.fixture
def dm(corpus, tmp_path) -> TranslationDataModule:
    module = TranslationDataModule(CorpusFn(corpus), VOCAB, str(tmp_path), max_tokens=300, max_len=MAX_LEN)
    module.prepare_data()
    module.setup("fit")
    return module


def check_batch(batch: Batch, pad: int = 0, bos: int = 2, eos: int = 3) -> None:
    B, S = batch.src.shape
    assert batch.src_mask.shape == (B, S) and batch.src_mask.dtype == torch.bool
    assert torch.equal(batch.src_mask, batch.src.ne(pad))
    src_len = batch.src_mask.sum(1)
    assert torch.equal(batch.src[torch.arange(B), src_len - 1], torch.full((B,), eos))  # EOS last
    assert batch.tgt_in.shape == batch.tgt_out.shape and batch.tgt_in.size(0) == B
    assert (batch.tgt_in[:, 0] == bos).all()
    real = batch.tgt_in[:, 1:].ne(pad)
    assert torch.equal(batch.tgt_in[:, 1:][real], batch.tgt_out[:, :-1][real])  # the shift
    tgt_len = batch.tgt_out.ne(pad).sum(1)
    assert torch.equal(batch.tgt_out[torch.arange(B), tgt_len - 1], torch.full((B,), eos))
    assert batch.ntokens == int(tgt_len.sum()) and batch.index.shape == (B,)


def test_batches_have_the_right_shapes_masks_and_shift(dm):
    seen = []
    for batch in dm.train_dataloader():
        assert isinstance(batch, Batch)
        check_batch(batch)
        assert len(batch) * max(batch.src.size(1), batch.tgt_in.size(1)) <= 300 or len(batch) == 1
        seen += batch.index.tolist()
    assert len(seen) == len(set(seen)) == 300 - N_LONG


def test_over_long_training_pairs_are_dropped_and_counted(corpus, tmp_path, caplog):
    module = TranslationDataModule(CorpusFn(corpus), VOCAB, str(tmp_path), max_len=MAX_LEN)
    with caplog.at_level(logging.WARNING, logger="nmt.data"):
        module.setup("fit")
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"dropped {N_LONG} of 300" in m for m in messages)
    assert any(m.startswith("val: 1 source") for m in messages)  # warned, not dropped
    train = module.datasets["train"]
    assert len(train) == 300 - N_LONG
    assert all(len(s) <= MAX_LEN and len(t) <= MAX_LEN for s, t, _ in (train[k] for k in range(len(train))))
    # Indices still point at the pair's line in the split.
    s, _, k = train[len(train) - 1]
    assert module.vocab.encode_src([corpus.splits["train"].src[k]])[0] == s
    assert len(module.datasets["val"]) == 40


def test_val_order_is_restorable_by_index(dm, corpus):
    refs = dm.references("val")
    by_index: dict[int, str] = {}
    order = []
    for batch in dm.val_dataloader():
        check_batch(batch)
        for k, row in zip(batch.index.tolist(), batch.tgt_out.tolist(), strict=True):
            by_index[k] = dm.vocab.decode_tgt(row)
            order.append(k)
    assert order != sorted(order)  # batches are length-sorted, not in file order
    assert [by_index[k] for k in range(len(refs))] == refs
    assert [b.index.tolist() for b in dm.val_dataloader()] == [b.index.tolist() for b in dm.val_dataloader()]


def test_any_split_and_budget(dm):
    assert dm.split_names == ["train", "val", "test"]
    assert dm.alignments("test")[0].startswith("0-0") and dm.alignments("val") is None
    assert dm.sources("test") == dm.corpus.splits["test"].src
    loader = dm.dataloader("test", max_tokens=60)
    assert all(len(b) * max(b.src.size(1), b.tgt_in.size(1)) <= 60 or len(b) == 1 for b in loader)
    assert sorted(k for b in loader for k in b.index.tolist()) == list(range(30))
    with pytest.raises(KeyError, match="unknown split"):
        dm.dataloader("dev")


def test_train_order_changes_with_the_epoch(dm):
    loader = dm.train_dataloader()
    first = [b.index.tolist() for b in loader]
    loader.batch_sampler.set_epoch(1)
    second = [b.index.tolist() for b in loader]
    assert first != second and sorted(sum(first, [])) == sorted(sum(second, []))


def test_setup_loads_the_vocab_prepare_data_built(corpus, tmp_path, monkeypatch):
    fn = CorpusFn(corpus)
    module = TranslationDataModule(fn, OmegaConf.create(VOCAB), str(tmp_path))  # Hydra passes a DictConfig
    module.prepare_data()
    monkeypatch.setattr(spm.SentencePieceTrainer, "train", lambda *a, **k: pytest.fail("retrained in setup"))
    module.setup("fit")
    module.setup("test")  # second stage: nothing redone
    assert fn.calls == 2 and module.vocab.src_size <= VOCAB["size"]


def test_ids_fingerprint_tells_data_and_tokenisation_apart(corpus, tmp_path):
    def fp(c: ParallelCorpus, **kw) -> str:
        return TranslationDataModule(CorpusFn(c), {**VOCAB, **kw}, str(tmp_path)).ids_fingerprint()

    base = fp(corpus)
    assert base == fp(make_corpus()) == ids_fingerprint(corpus, VOCAB)
    assert TranslationDataModule(CorpusFn(corpus), VOCAB, str(tmp_path), max_len=10).ids_fingerprint() == base
    assert fp(corpus, size=70) != base
    assert fp(corpus, joint=False) != base
    pairs = len(corpus.splits["train"])  # a joint sample of 2 × pairs lines keeps the split whole
    assert fp(corpus, sample_lines=2 * pairs) == fp(corpus, sample_lines=10**9) == base
    assert fp(corpus, sample_lines=2 * pairs - 1) != base != fp(corpus, sample_lines=pairs)
    assert fp(corpus, sample_lines=pairs) != fp(corpus, sample_lines=pairs - 1)
    assert fp(make_corpus(test_extra=" !")) != base  # test set differs


def test_bad_vocab_settings_are_rejected(corpus, tmp_path):
    with pytest.raises(ValueError, match="unknown vocab setting"):
        TranslationDataModule(CorpusFn(corpus), {**VOCAB, "sise": 10}, str(tmp_path))
    with pytest.raises(ValueError, match=r"vocab\.sample_lines=0 must be a whole number"):
        TranslationDataModule(CorpusFn(corpus), {**VOCAB, "sample_lines": 0}, str(tmp_path))
    with pytest.raises(ValueError, match="max_len"):
        TranslationDataModule(CorpusFn(corpus), VOCAB, str(tmp_path), max_len=0)


def test_worker_processes_give_the_same_batches(dm):
    dm.num_workers = 1
    loader = dm.train_dataloader()
    assert loader.persistent_workers
    with_workers = [b.index.tolist() for b in loader]
    dm.num_workers = 0
    assert with_workers == [b.index.tolist() for b in dm.train_dataloader()]


class Recorder(pl.LightningModule):
    """Records the indices of every training batch, per epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: dict[int, list[list[int]]] = {}

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        assert isinstance(batch, Batch)
        self.seen.setdefault(self.current_epoch, []).append(batch.index.tolist())
        return (self.weight * batch.src.float().mean()).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_lightning_sets_the_epoch_of_our_sampler(corpus, tmp_path):
    dm = TranslationDataModule(CorpusFn(corpus), VOCAB, str(tmp_path / "cache"), max_tokens=300, max_len=MAX_LEN)
    model = Recorder()
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        use_distributed_sampler=False,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=dm)
    sampler, split_index = dm.train_dataloader().batch_sampler, dm.datasets["train"].index
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        assert model.seen[epoch] == [[split_index[k] for k in b] for b in sampler.epoch_batches()]
    assert model.seen[0] != model.seen[1]


def test_large_splits_are_encoded_in_chunks_with_the_same_ids(dm, monkeypatch):
    import nmt.data as data_module

    lines = dm.sources("train")
    whole = data_module.TranslationDataModule._encode(dm.vocab.encode_src, lines, "train source")
    monkeypatch.setattr(data_module, "_PROGRESS_LINES", 10)
    monkeypatch.setattr(data_module, "_CHUNK", 7)
    assert data_module.TranslationDataModule._encode(dm.vocab.encode_src, lines, "train source") == whole


class ShardRecorder(Recorder):
    """Writes what each DDP process saw to a file (spawned processes cannot return it)."""

    def __init__(self, out_dir: str) -> None:
        super().__init__()
        self.out_dir = out_dir

    def on_train_end(self) -> None:
        path = f"{self.out_dir}/rank{self.global_rank}.json"
        with open(path, "w") as f:
            json.dump(self.seen, f)


def ddp_trainer(tmp_path) -> pl.Trainer:
    """Two gloo processes (spawned), two epochs, no validation: what a sampler's DDP test trains with."""
    return pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        use_distributed_sampler=False,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=tmp_path,
    )


@pytest.mark.slow
def test_ddp_processes_get_disjoint_shards_and_do_not_hang(corpus, tmp_path):
    dm = TranslationDataModule(CorpusFn(corpus), VOCAB, str(tmp_path / "cache"), max_tokens=300, max_len=MAX_LEN)
    trainer = ddp_trainer(tmp_path)
    trainer.fit(ShardRecorder(str(tmp_path)), datamodule=dm)
    seen = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for epoch in ("0", "1"):
        a, b = seen[0][epoch], seen[1][epoch]
        assert len(a) == len(b)
        covered = {k for batch in a + b for k in batch}
        assert len(covered) == 300 - N_LONG
        repeated = {k for batch in a for k in batch} & {k for batch in b for k in batch}
        assert len(repeated) <= max(len(batch) for batch in a + b)  # at most one padding batch repeats
    assert seen[0]["0"] != seen[0]["1"]
