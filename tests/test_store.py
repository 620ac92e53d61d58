"""The memory-mapped training store: round trip, sharding, workers, reuse, damage, and the batches read from it."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np
import pytest

import nmt.corpora.files as files_module
import nmt.store as store_module
from nmt.corpora.toy import load_toy, write_toy
from nmt.data import TranslationDataModule
from nmt.sampler import TokenBucketSampler, _cut
from nmt.store import MANIFEST, Store, StoreError, write_store
from nmt.vocab import Vocab, sample_lines

VOCAB = {"size": 300, "model_type": "bpe"}


@pytest.fixture(scope="module")
def corpus():
    return load_toy(n_train=600, n_val=30, n_test=30)


@pytest.fixture(scope="module")
def vocab(corpus, tmp_path_factory):
    return Vocab.build(corpus, cache_dir=tmp_path_factory.mktemp("cache"), **VOCAB)


def pairs_of(corpus):
    split = corpus.splits["train"]
    return list(zip(split.src, split.tgt, strict=True))


def test_every_pair_round_trips_across_shards(corpus, vocab, tmp_path):
    pairs = pairs_of(corpus)
    store = Store(write_store(iter(pairs), vocab, None, tmp_path / "s", shard_pairs=128))
    assert len(store) == 600 and len(store.manifest["shards"]) == 5  # 4 × 128 + 88: chunks fill shards
    assert store.dtype == np.uint16  # 300 pieces fit in two bytes
    src_ids, tgt_ids = vocab.encode_src([s for s, _ in pairs]), vocab.encode_tgt([t for _, t in pairs])
    for k in range(len(store)):
        s, t = store[k]
        assert s.tolist() == src_ids[k] and t.tolist() == tgt_ids[k]
    assert store.lengths.tolist() == [[len(s), len(t)] for s, t in zip(src_ids, tgt_ids, strict=True)]
    with pytest.raises(IndexError):
        store[600]


def test_worker_processes_write_the_same_bytes(corpus, vocab, tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "CHUNK_PAIRS", 50)  # 12 chunks over the 2 workers
    cache = tmp_path / "cache"
    vocab.save(cache)  # a folder the workers load the vocabulary from
    one = write_store(iter(pairs_of(corpus)), vocab, None, tmp_path / "one", shard_pairs=256)
    two = write_store(iter(pairs_of(corpus)), vocab, cache, tmp_path / "two", shard_pairs=256, workers=2)
    names = sorted(p.relative_to(one) for p in one.rglob("*.bin"))
    assert names == sorted(p.relative_to(two) for p in two.rglob("*.bin")) and len(names) == 10
    assert all((one / n).read_bytes() == (two / n).read_bytes() for n in names)


def test_a_complete_store_is_reused_and_leftovers_are_ignored(corpus, vocab, tmp_path):
    folder = write_store(iter(pairs_of(corpus)), vocab, None, tmp_path / "s")
    stamp = (folder / MANIFEST).stat().st_mtime_ns

    def never():
        raise AssertionError("the text was read again")
        yield

    assert write_store(never(), vocab, None, folder) == folder
    assert (folder / MANIFEST).stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]  # the temporary folder is gone


def test_a_crash_while_writing_leaves_no_store(corpus, vocab, tmp_path):
    def crashing():
        yield from pairs_of(corpus)[:10]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_store(crashing(), vocab, None, tmp_path / "s")
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_store_is_refused_with_the_file_named(corpus, vocab, tmp_path):
    folder = write_store(iter(pairs_of(corpus)), vocab, None, tmp_path / "s")
    src = folder / "shard-00000" / "src.bin"
    src.write_bytes(src.read_bytes()[:-2])
    with pytest.raises(StoreError, match=r"src\.bin: .* bytes, expected .* delete"):
        Store(folder)


def test_a_pickled_store_reopens_its_maps(corpus, vocab, tmp_path):
    store = Store(write_store(iter(pairs_of(corpus)), vocab, None, tmp_path / "s"))
    first = store[3][0].tolist()
    data = pickle.dumps(store)
    assert len(data) < 10_000  # the maps are not copied into the pickle
    assert pickle.loads(data)[3][0].tolist() == first


@pytest.fixture()
def dm(corpus, tmp_path):
    module = TranslationDataModule(lambda: corpus, VOCAB, str(tmp_path / "cache"), max_tokens=200, seed=3)
    module.setup("fit")
    return module


def test_the_training_split_is_read_from_the_store(dm, corpus):
    train = dm.datasets["train"]
    assert train.store.folder.parent.name == "store" and len(train) == 600
    s, t, k = train[17]
    assert dm.vocab.encode_src([corpus.splits["train"].src[k]])[0] == s
    assert dm.vocab.encode_tgt([corpus.splits["train"].tgt[k]])[0] == t


@pytest.mark.parametrize("replicas", [2, 3])
def test_ranks_read_disjoint_equal_shards_covering_every_pair(dm, replicas):
    lengths = dm.datasets["train"].lengths()
    for epoch in (0, 1):
        shards = []
        for rank in range(replicas):
            sampler = TokenBucketSampler(lengths, 200, seed=3, num_replicas=replicas, rank=rank)
            sampler.set_epoch(epoch)
            shards.append(sampler.epoch_batches())
        assert len({len(s) for s in shards}) == 1  # equal counts: DDP's gradient sync does not hang
        seen = [k for shard in shards for batch in shard for k in batch]
        assert set(seen) == set(range(600))
        # Only the batches repeated to fill the last round overlap, and no pair repeats within a rank.
        padding = len(shards[0]) * replicas - len(TokenBucketSampler(lengths, 200, num_replicas=1, rank=0))
        assert len(seen) - 600 <= padding * max(len(b) for shard in shards for b in shard)
        assert all(len({k for b in shard for k in b}) == sum(len(b) for b in shard) for shard in shards)


def test_one_process_reads_every_pair_once_per_epoch(dm):
    loader = dm.train_dataloader()
    for epoch in (0, 1):
        loader.batch_sampler.set_epoch(epoch)
        seen = [k for batch in loader for k in batch.index.tolist()]
        assert sorted(seen) == list(range(600))


def test_a_restart_reads_identical_batches(dm, corpus, tmp_path):
    loader = dm.train_dataloader()
    loader.batch_sampler.set_epoch(1)
    before = [batch.index.tolist() for batch in loader]
    it = iter(loader)
    for _ in range(4):
        next(it)
    state = loader.state_dict()
    # A new process: a new DataModule opens the same store, resumes inside epoch 1.
    again = TranslationDataModule(lambda: corpus, VOCAB, dm.cache_dir, max_tokens=200, seed=3)
    again.setup("fit")
    assert again.datasets["train"].store.folder == dm.datasets["train"].store.folder
    resumed = again.train_dataloader()
    resumed.load_state_dict(state)
    resumed.batch_sampler.set_epoch(1)
    assert [batch.index.tolist() for batch in resumed] == before[4:]
    resumed.batch_sampler.set_epoch(1)
    assert [batch.index.tolist() for batch in resumed] == before


def test_worker_processes_build_the_same_batches(dm):
    dm.num_workers = 1
    loader = dm.train_dataloader()
    dm.num_workers = 0
    plain = dm.train_dataloader()
    assert [b.src.tolist() for b in loader] == [b.src.tolist() for b in plain]


def test_large_custom_files_stream_into_the_same_store(corpus, tmp_path, monkeypatch, caplog):
    write_toy(corpus, tmp_path / "files")
    lines = (tmp_path / "files" / "train.en").read_text().splitlines()
    lines[4] = "   "  # an empty source: the pair is dropped by both readers
    (tmp_path / "files" / "train.en").write_text("\n".join(lines) + "\n")
    spec = {s: {"src": str(tmp_path / f"files/{s}.en"), "tgt": str(tmp_path / f"files/{s}.de")} for s in corpus.splits}
    eager = files_module.load_files("en", "de", **spec)
    monkeypatch.setattr(files_module, "STREAM_BYTES", 0)
    with caplog.at_level(logging.WARNING):
        streamed = files_module.load_files("en", "de", **spec)
    assert not isinstance(streamed.splits["train"].src, list)
    assert list(streamed.splits["train"].src) == eager.splits["train"].src
    assert streamed.fingerprint("train") == eager.fingerprint("train")
    warned = [r for r in caplog.records if r.name == "nmt.corpora.streaming"]
    assert [r.getMessage()[:16] for r in warned] == ["dropped 1 of 600"]  # once, whatever the passes
    cache = str(tmp_path / "cache")
    a = TranslationDataModule(lambda: eager, VOCAB, cache)
    a.setup("fit")
    b = TranslationDataModule(lambda: streamed, VOCAB, cache)
    b.setup("fit")
    assert a.datasets["train"].store.folder == b.datasets["train"].store.folder and len(b.datasets["train"]) == 599


def reference_cut(order, lengths, max_tokens):
    """The greedy loop the vectorised cut replaces."""
    batches, current, longest = [], [], 0
    for k in order:
        need = max(longest, *lengths[k])
        if current and (len(current) + 1) * need > max_tokens:
            batches.append(current)
            current, need = [], max(lengths[k])
        current.append(int(k))
        longest = need
    return batches + ([current] if current else [])


@pytest.mark.parametrize("max_tokens", [1, 7, 50, 333, 5000])
def test_the_vectorised_cut_equals_the_greedy_loop(max_tokens):
    rng = np.random.default_rng(max_tokens)
    lengths = rng.integers(1, 60, size=(2000, 2))
    lengths[::97] = 400  # some pairs alone over most budgets
    sampler = TokenBucketSampler(lengths, max_tokens, shuffle=False)
    order = sampler._sorted(None, sampler.lengths)
    got = [b.tolist() for b in _cut(order, sampler.lengths, max_tokens)]
    assert got == reference_cut(order, lengths.tolist(), max_tokens)


def test_sentencepiece_sample_is_bounded_and_whole_when_short():
    lines = [f"line {i}" for i in range(1000)]
    assert sample_lines(iter(lines), 1000) == lines  # short streams: all of it, in order
    sample = sample_lines(iter(lines), 100)
    assert len(sample) == 100 == len(set(sample)) and set(sample) <= set(lines)
    assert sample == sample_lines(iter(lines), 100)  # seeded
    assert max(int(s.split()[1]) for s in sample) > 500  # drawn from the whole stream, not its head


def test_the_prepare_command_builds_the_store_once(tmp_path):
    from hydra import compose, initialize_config_dir

    from nmt.prepare import prepare

    conf = str(Path(__file__).resolve().parents[1] / "conf")
    overrides = ["data.corpus.n_train=300", "data.corpus.n_val=20", "data.corpus.n_test=20", f"cache_dir={tmp_path}"]
    with initialize_config_dir(config_dir=conf, version_base="1.3"):
        cfg = compose(config_name="prepare", overrides=[*overrides, "workers=2"])
    made = prepare(cfg)
    assert made["pairs"] == 300 and made["dtype"] == "uint16" and Store(made["store"]).disk_bytes() > 0
    assert Store(made["store"]).manifest["corpus"] == "toy"
    stamp = (tmp_path / "store").stat().st_mtime_ns
    assert prepare(cfg)["store"] == made["store"] and (tmp_path / "store").stat().st_mtime_ns == stamp
