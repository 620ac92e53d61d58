"""SentencePiece vocabulary: special ids, exact round trip, cache reuse, save/load, bad files."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest
import sentencepiece as spm

import nmt.vocab
from nmt.corpora.base import CorpusError, ParallelCorpus, ParallelSplit
from nmt.errors import ConfigError
from nmt.vocab import Vocab, VocabError, VocabSettings, cache_key

WORDS = "the a cat dog sees runs under small big red house garden near old man woman child".split()


def _sentence(rng: random.Random, words: list[str]) -> str:
    body = " ".join(rng.choice(words) for _ in range(rng.randint(3, 10)))
    if rng.random() < 0.3:
        body = body.replace(" ", ", ", 1)
    return body[0].upper() + body[1:] + rng.choice(".!?")


def tiny_corpus(n: int = 300, seed: int = 0, tgt_upper: bool = False) -> ParallelCorpus:
    """Synthetic pairs: the target reverses each source word (upper-cased if ``tgt_upper``)."""
    rng = random.Random(seed)
    src = [_sentence(rng, WORDS) for _ in range(n)]
    tgt = [" ".join(w[::-1] for w in s.split()) for s in src]
    if tgt_upper:
        tgt = [t.upper() for t in tgt]
    splits = {name: ParallelSplit(name, src[i::3], tgt[i::3]) for i, name in enumerate(["train", "val", "test"])}
    return ParallelCorpus("tiny", "xx", "yy", splits)


def build(corpus: ParallelCorpus, cache: Path, **kw) -> Vocab:
    settings = {"size": 60, "model_type": "unigram", "joint": True, "character_coverage": 1.0, **kw}
    return Vocab.build(corpus, cache_dir=cache, **settings)


def test_special_ids_are_fixed(tmp_path):
    vocab = build(tiny_corpus(), tmp_path)
    assert (vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2, 3)
    assert vocab.tgt_pieces_from_ids([0, 1, 2, 3]) == ["<pad>", "<unk>", "<s>", "</s>"]
    ids = vocab.encode_src(["The cat sees a dog."])[0]
    assert ids and not {0, 2, 3} & set(ids)  # no pad/bos/eos: Batch adds them


@pytest.mark.parametrize("model_type", ["unigram", "bpe", "char", "word"])
def test_round_trip_keeps_case_and_punctuation(tmp_path, model_type):
    corpus = tiny_corpus()
    vocab = build(corpus, tmp_path, model_type=model_type, size=400)
    # New sentences, or for the word model (which only knows whitespace-separated tokens it has
    # seen, "house!" included) training sentences.
    texts = ["The old man, near a red house!", "Child sees the garden?", "A big dog runs under the cat."]
    texts += corpus.splits["test"].src[:20]
    if model_type == "word":
        texts = corpus.splits["train"].src[:20]
    for text in texts:
        assert vocab.decode_tgt(vocab.encode_tgt([text])[0]) == text
        assert "".join(vocab.src_pieces(text)).replace("▁", " ").strip() == text


def test_multiple_spaces_normalise(tmp_path):
    vocab = build(tiny_corpus(), tmp_path)
    assert vocab.decode_tgt(vocab.encode_tgt(["  The   cat  runs. "])[0]) == "The cat runs."


def test_decode_stops_at_eos_and_drops_pad_and_bos(tmp_path):
    vocab = build(tiny_corpus(), tmp_path)
    ids = vocab.encode_tgt(["A cat runs."])[0]
    noisy = [vocab.bos_id, *ids, vocab.eos_id, *ids, vocab.pad_id]
    assert vocab.decode_tgt(noisy) == "A cat runs."
    assert vocab.decode_tgt([*ids, vocab.pad_id, vocab.pad_id]) == "A cat runs."
    assert vocab.tgt_pieces_from_ids([*ids, vocab.eos_id])[-1] == "</s>"


def test_second_build_reuses_the_cache(tmp_path, monkeypatch):
    corpus = tiny_corpus()
    first = build(corpus, tmp_path)
    (entry,) = (tmp_path / "spm").iterdir()
    assert entry.name == cache_key(corpus, first.settings)
    mtime = (entry / "spm-joint.model").stat().st_mtime_ns

    def no_training(*args, **kwargs):
        raise AssertionError("retrained although the cache had this vocabulary")

    monkeypatch.setattr(spm.SentencePieceTrainer, "train", no_training)
    again = build(corpus, tmp_path)
    assert (entry / "spm-joint.model").stat().st_mtime_ns == mtime
    assert again.encode_src(["The cat."]) == first.encode_src(["The cat."])
    with pytest.raises(AssertionError, match="retrained"):  # other settings are another entry
        build(corpus, tmp_path, size=50)


def test_cache_key_depends_on_train_split_only(tmp_path):
    corpus = tiny_corpus()
    vocab = build(corpus, tmp_path)
    other_test = ParallelCorpus("tiny", "xx", "yy", {**corpus.splits, "test": ParallelSplit("test", ["x"], ["y"])})
    other_train = tiny_corpus(seed=1)
    assert cache_key(other_test, vocab.settings) == cache_key(corpus, vocab.settings)
    assert cache_key(other_train, vocab.settings) != cache_key(corpus, vocab.settings)
    assert [p.name for p in (tmp_path / "spm").iterdir()] == [cache_key(corpus, vocab.settings)]  # no temp left


def test_joint_shares_ids_and_separate_has_two_sizes(tmp_path):
    corpus = tiny_corpus(tgt_upper=True)  # disjoint alphabets on the two sides
    joint = build(corpus, tmp_path, model_type="char")
    separate = build(corpus, tmp_path, model_type="char", joint=False)
    assert joint.joint and not separate.joint
    assert joint.src_size == joint.tgt_size
    src_chars = set("".join(corpus.splits["train"].src).replace(" ", ""))
    tgt_chars = set("".join(corpus.splits["train"].tgt).replace(" ", ""))
    # char model: specials + word-boundary piece + one piece per character.
    assert separate.src_size == 4 + 1 + len(src_chars)
    assert separate.tgt_size == 4 + 1 + len(tgt_chars)
    assert joint.src_size == 4 + 1 + len(src_chars | tgt_chars)
    assert joint.encode_src(["The CAT."]) == joint.encode_tgt(["The CAT."])
    assert separate.encode_src(["the"]) != separate.encode_tgt(["the"])


def test_save_then_load_gives_the_same_ids(tmp_path):
    corpus = tiny_corpus()
    for joint in (True, False):
        vocab = build(corpus, tmp_path / "cache", joint=joint)
        run = tmp_path / f"run-{joint}"
        vocab.save(run)
        expected = {"vocab.json", "spm-joint.model"} if joint else {"vocab.json", "spm-src.model", "spm-tgt.model"}
        assert {p.name for p in run.iterdir()} == expected
        loaded = Vocab.load(run)
        text = corpus.splits["val"].src[:10]
        assert loaded.encode_src(text) == vocab.encode_src(text)
        assert loaded.encode_tgt(text) == vocab.encode_tgt(text)
        assert (loaded.src_size, loaded.tgt_size, loaded.joint) == (vocab.src_size, vocab.tgt_size, joint)
        assert loaded.provenance == {"corpus": "tiny", "train_fingerprint": corpus.fingerprint("train")}


def test_corrupt_or_missing_model_file_names_the_file(tmp_path):
    vocab = build(tiny_corpus(), tmp_path / "cache")
    run = tmp_path / "run"
    vocab.save(run)
    model = run / "spm-joint.model"
    model.write_bytes(b"this is not a model")
    with pytest.raises(VocabError, match="spm-joint.model") as err:
        Vocab.load(run)
    assert "\n" not in str(err.value)
    model.unlink()
    with pytest.raises(CorpusError, match="spm-joint.model.*missing"):
        Vocab.load(run)
    (run / "vocab.json").write_text("{not json")
    with pytest.raises(VocabError, match="vocab.json"):
        Vocab.load(run)
    with pytest.raises(VocabError, match="vocab.json"):
        Vocab.load(tmp_path / "nowhere")


def test_bad_settings_are_one_line_errors(tmp_path):
    corpus = tiny_corpus()
    with pytest.raises(ValueError, match="model_type"):
        build(corpus, tmp_path, model_type="wordpiece")
    with pytest.raises(ValueError, match="character_coverage"):
        build(corpus, tmp_path, character_coverage=0.0)
    with pytest.raises(ValueError, match="Vocabulary size is smaller") as err:
        build(corpus, tmp_path, size=12)  # fewer pieces than characters
    assert "\n" not in str(err.value)
    assert not any((tmp_path / "spm").iterdir())  # the failed build left nothing behind


def _key_before_sample_lines(corpus: ParallelCorpus, settings: dict) -> str:
    """The cache key as computed before ``sample_lines`` was a setting (recipe 1, four settings)."""
    payload = json.dumps({"train": corpus.fingerprint("train"), "settings": settings, "recipe": 1}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def test_sample_lines_counts_only_where_it_cuts_the_train_split(tmp_path, monkeypatch):
    corpus = tiny_corpus()  # 100 train pairs: a joint vocabulary trains on 200 lines
    seen: list[int] = []
    real_train = nmt.vocab._train_model

    def counting(lines, *args):
        lines = list(lines)
        seen.append(len(lines))
        return real_train(lines, *args)

    monkeypatch.setattr(nmt.vocab, "_train_model", counting)
    four = {"size": 60, "model_type": "unigram", "joint": True, "character_coverage": 1.0}
    whole = build(corpus, tmp_path, sample_lines=200)  # exactly the split: kept whole, the old key
    assert (tmp_path / "spm" / _key_before_sample_lines(corpus, four)).is_dir() and seen == [200]
    assert cache_key(corpus, VocabSettings(**four)) == cache_key(corpus, whole.settings)  # default: no cut either
    cut = build(corpus, tmp_path, sample_lines=150)
    assert seen == [200, 150]  # SentencePiece saw the sample only
    assert cache_key(corpus, cut.settings) != cache_key(corpus, whole.settings)
    assert cache_key(corpus, VocabSettings(**four, sample_lines=149)) != cache_key(corpus, cut.settings)
    separate = VocabSettings(**{**four, "joint": False}, sample_lines=100)  # one side at a time: 100 lines, whole
    assert cache_key(corpus, separate) == _key_before_sample_lines(corpus, {**four, "joint": False})
    assert sorted(p.name for p in (tmp_path / "spm").iterdir()) == sorted(
        [cache_key(corpus, whole.settings), cache_key(corpus, cut.settings)]
    )  # no temporary folder or parked sample left behind
    assert not list((tmp_path / "spm").rglob("*.sample"))
    assert Vocab.load(tmp_path / "spm" / cache_key(corpus, cut.settings)).settings.sample_lines == 150


@pytest.mark.parametrize("value", [0, -5, 1.5, "many", True, None])
def test_bad_sample_lines_is_one_line_naming_the_key(value):
    with pytest.raises(ConfigError, match=r"vocab\.sample_lines=") as err:
        VocabSettings.from_mapping({"size": 60, "sample_lines": value})
    assert "\n" not in str(err.value)
