"""data.sampling: each epoch draws the training pieces anew, reproducibly, and only the training split."""

from __future__ import annotations

import collections
import itertools
import json
import math
import random
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from conftest import compose_train
from test_data import MAX_LEN, VOCAB, CorpusFn, ddp_trainer, make_corpus

from nmt import subword_sampling
from nmt.config_checks import check_config
from nmt.corpora.base import ParallelCorpus, ParallelSplit
from nmt.corpora.streaming import StreamedPairs, streamed_split
from nmt.data import TranslationDataModule
from nmt.errors import ConfigError
from nmt.subword_sampling import SubwordSampling, UnigramCuts

SAMPLING = {"alpha": 0.1}  # aggressive: most of the tiny corpus's cuts change


@pytest.fixture(scope="module")
def corpus() -> ParallelCorpus:
    return make_corpus()


def _module(corpus, cache, sampling=SAMPLING, **kw) -> TranslationDataModule:
    dm = TranslationDataModule(
        CorpusFn(corpus), VOCAB, str(cache), max_tokens=300, max_len=MAX_LEN, sampling=sampling, **kw
    )
    dm.prepare_data()
    dm.setup("fit")
    return dm


def _items(dm: TranslationDataModule, epoch: int, order=None) -> dict[int, tuple[list[int], list[int]]]:
    train = dm.datasets["train"]
    train.set_epoch(epoch)
    return {k: train[k][:2] for k in (order or range(len(train)))}


def test_each_epoch_draws_other_cuts_of_the_same_text(corpus, tmp_path):
    dm = _module(corpus, tmp_path)
    train, vocab, split = dm.datasets["train"], dm.vocab, corpus.splits["train"]
    first, second = _items(dm, 0), _items(dm, 1)
    best = {k: tuple(ids.tolist() for ids in train.store[int(train.index[k])]) for k in first}
    for items in (first, second):
        for k, (src, tgt) in items.items():
            pair = int(train.index[k])
            # another cut of the same sentence: the pieces spell the text the best cut spells
            assert vocab.decode_tgt(src) == vocab.decode_tgt(best[k][0])
            assert (
                vocab.decode_tgt(tgt)
                == vocab.decode_tgt(best[k][1])
                == vocab.decode_tgt(vocab.encode_tgt([split.tgt[pair]])[0])
            )
    changed = sum(first[k] != best[k] for k in first)
    assert changed > len(first) // 2
    assert sum(first[k] != second[k] for k in first) > len(first) // 2


def test_a_cut_depends_on_seed_epoch_and_pair_only(corpus, tmp_path):
    dm = _module(corpus, tmp_path)
    first = _items(dm, 3)
    again = _items(_module(corpus, tmp_path), 3, order=list(reversed(range(len(first)))))  # read backwards
    assert again == first
    assert _items(_module(corpus, tmp_path, seed=1), 3) != first


def test_the_loader_trains_on_its_epochs_cuts_in_workers_too(corpus, tmp_path):
    dm = _module(corpus, tmp_path)
    dataset = dm.datasets["train"]

    def batches(workers: int, epoch: int) -> list[torch.Tensor]:
        dm.num_workers = workers
        loader = dm.train_dataloader()
        assert not loader.persistent_workers  # a worker kept from the last epoch would keep its cuts
        loader.batch_sampler.set_epoch(epoch)  # what Lightning's fit loop does before each epoch
        return [b.src for b in loader]

    for epoch in (0, 1):
        main = batches(0, epoch)
        assert dataset.epoch == epoch
        sampler = dm.train_dataloader().batch_sampler
        sampler.set_epoch(epoch)
        for src, batch in zip(main, sampler.epoch_batches(), strict=True):
            for row, k in zip(src, batch, strict=True):
                expected = _items(dm, epoch, [k])[k][0]
                assert row[: len(expected)].tolist() == expected
        assert all(torch.equal(a, b) for a, b in zip(batches(1, epoch), main, strict=True))
        # cut from the epoch's drawn lengths: as many batches as without sampling, each a run of the sorted order
        longest = dataset.epoch_lengths(epoch).max(axis=1)
        runs = sorted((longest[b].min(), longest[b].max()) for b in sampler.epoch_batches())
        assert len(runs) == len(sampler) == len(_module(corpus, tmp_path / "plain", sampling=None).train_dataloader())
        assert all(high <= next_low for (_, high), (next_low, _) in itertools.pairwise(runs))


def test_workers_take_the_epochs_draws_instead_of_drawing_again(corpus, tmp_path, monkeypatch):
    dm = _module(corpus, tmp_path)
    dataset = dm.datasets["train"]
    draw = dataset.cuts.ids

    def main_process_only(k: int, epoch: int):
        assert torch.utils.data.get_worker_info() is None, "a DataLoader worker drew pieces again"
        return draw(k, epoch)

    monkeypatch.setattr(dataset.cuts, "ids", main_process_only)
    dm.num_workers = 2
    loader = dm.train_dataloader()
    loader.batch_sampler.set_epoch(5)  # an epoch nothing has drawn yet
    assert sum(len(b.src) for b in loader) == len(dataset)  # every pair, from the main process's draws
    assert dataset._drawn is not None and dataset._drawn[0] == 5


def test_a_drawn_cut_over_max_len_falls_back_to_the_best_cut(corpus, tmp_path):
    dm = _module(corpus, tmp_path, sampling={"alpha": 0.01})
    train = dm.datasets["train"]
    train.cuts.max_len = 1  # every draw is too long now
    train.set_epoch(2)
    for k in range(len(train)):
        src, tgt = train.store[int(train.index[k])]
        assert train[k][:2] == (src.tolist(), tgt.tolist())


def test_val_and_test_keep_the_best_cut(corpus, tmp_path):
    plain, sampled = _module(corpus, tmp_path / "a", sampling=None), _module(corpus, tmp_path / "b")
    for split in ("val", "test"):
        assert sampled.datasets[split].src == plain.datasets[split].src
        assert sampled.datasets[split].tgt == plain.datasets[split].tgt
    assert plain.datasets["train"].cuts is None and plain.train_dataloader().persistent_workers is False


@pytest.mark.parametrize(
    ("value", "model_type", "message"),
    [
        ({"alpha": 0}, "unigram", r"data\.sampling\.alpha=0 must be a number > 0"),
        ({"alpha": True}, "unigram", r"data\.sampling\.alpha=True must be a number > 0"),
        ({"alpha": float("inf")}, "unigram", r"data\.sampling\.alpha=inf must be a number > 0"),
        ({"alpha": 0.5, "nbest_size": 4}, "unigram", r"give null, or \{alpha: 0\.3\} \(the one key\)"),
        ({}, "unigram", r"give null, or \{alpha: 0\.3\}"),
        (
            {"alpha": 0.5},
            "bpe",
            r"not data\.vocab\.model_type=bpe's; set data\.vocab\.model_type=unigram or data\.sampling=null",
        ),
        (0.5, "unigram", r"data\.sampling=0\.5: give null, or"),
    ],
)
def test_bad_sampling_settings_are_one_line_errors(value, model_type, message):
    with pytest.raises(ConfigError, match=message):
        SubwordSampling.from_config(value, model_type)


@pytest.mark.parametrize("by_word", [True, False], ids=["word-by-word", "whole-sentence"])
def test_the_lattice_is_sentencepieces(corpus, tmp_path, by_word):
    """The best path through ``UnigramCuts``' lattice is ``encode``'s cut, unknown characters included,
    whether the sentence is cut word by word or as one lattice (a vocabulary with "▁" inside pieces)."""
    vocab = _module(corpus, tmp_path, sampling=None).vocab
    cuts = UnigramCuts(vocab.src_model, alpha=0.5)
    assert cuts.by_word
    cuts.by_word = by_word
    lines = [*corpus.splits["train"].src, *corpus.splits["train"].tgt, *corpus.splits["val"].src]
    lines += ["the Ωcat ☃☃ sees  a café", "☃", "x☃y☃☃z"]  # characters the model never saw, alone and in runs
    for line in lines:
        assert cuts.best(line) == vocab.src_model.encode(line), line
    assert vocab.src_model.encode("☃☃").count(vocab.unk_id) == 1  # a run of unknowns is one piece


def _every_cut(cuts: UnigramCuts, text: str) -> dict[tuple[int, ...], float]:
    """Each path through the lattice of ``text`` (normalised) with its log P, found by brute force."""
    ends = cuts._ending_at(text)

    def paths(j: int) -> list[tuple[tuple[int, ...], float]]:
        if j == 0:
            return [((), 0.0)]
        return [(ids + (piece,), logp + score) for i, piece, score in ends[j] for ids, logp in paths(i)]

    return dict(paths(len(text)))


@pytest.mark.parametrize("listed", [64, 0], ids=["listed-cuts", "forward-backward"])
def test_draws_follow_p_to_the_alpha(corpus, tmp_path, monkeypatch, listed):
    """Over a sentence with a hundred-odd cuts, the draws' frequencies are Q(cut) ∝ P(cut) ** alpha, drawn
    from each word's list of cuts or by forward filtering, backward sampling (a word with more cuts)."""
    monkeypatch.setattr(subword_sampling, "_LISTED", listed)
    model = _module(corpus, tmp_path, sampling=None).vocab.src_model
    text, alpha, n = "the big garden near the old house", 0.1, 20000
    cuts = UnigramCuts(model, alpha)
    every = _every_cut(cuts, model.normalize(text))
    best = max(every, key=every.get)
    assert 100 <= len(every) < 10_000 and list(best) == model.encode(text)
    q = {cut: math.exp(alpha * (logp - every[best])) for cut, logp in every.items()}
    expected = {cut: w / sum(q.values()) for cut, w in q.items()}
    rng = random.Random(0)
    drawn = collections.Counter(tuple(cuts.draw(text, rng)) for _ in range(n))
    assert set(drawn) <= set(expected) and len(drawn) > 20
    assert all((word.listed is not None) == (listed > 0) for word in cuts._words.values())
    top = sorted(expected, key=expected.get, reverse=True)[:5]  # each ≥ 1%: 200+ expected draws
    for cut in top:
        assert abs(drawn[cut] / n - expected[cut]) < 4 * math.sqrt(expected[cut] / n), (cut, drawn[cut], expected[cut])
    assert {tuple(UnigramCuts(model, 200.0).draw(text, rng)) for _ in range(50)} == {best}


def test_train_checks_sampling_before_reading_any_data():
    assert check_config(compose_train(["data=multi30k", "data.sampling={alpha:0.5}"])) is not None
    with pytest.raises(ConfigError, match=r"data\.sampling\.alpha=-1"):
        check_config(compose_train(["data=multi30k", "data.sampling={alpha:-1}"]))
    with pytest.raises(ConfigError, match="not data.vocab.model_type=bpe's"):
        check_config(compose_train(["data.sampling={alpha:0.5}"]))  # data=toy's vocabulary is BPE


def test_a_streamed_corpus_is_refused_with_the_fix(corpus, tmp_path):
    src, tgt = tmp_path / "train.src", tmp_path / "train.tgt"
    src.write_text("\n".join(corpus.splits["train"].src) + "\n")
    tgt.write_text("\n".join(corpus.splits["train"].tgt) + "\n")
    streamed = ParallelCorpus(
        "big", "xx", "yy", {**corpus.splits, "train": streamed_split("train", StreamedPairs("train", src, tgt))}
    )
    assert isinstance(streamed.splits["train"], ParallelSplit)
    with pytest.raises(ConfigError, match=r"streams from disk.*set data\.sampling=null"):
        _module(streamed, tmp_path / "cache")


class PieceRecorder(pl.LightningModule):
    """Writes, per rank and epoch, each training pair's index and source pieces as the batches held them."""

    def __init__(self, out_dir: str) -> None:
        super().__init__()
        self.out_dir, self.weight = out_dir, torch.nn.Parameter(torch.zeros(1))
        self.seen: dict[int, list[tuple[int, list[int]]]] = {}

    def training_step(self, batch, batch_idx):
        rows = [(int(k), [x for x in row.tolist() if x != 0]) for k, row in zip(batch.index, batch.src, strict=True)]
        self.seen.setdefault(self.current_epoch, []).extend(rows)
        return (self.weight * batch.src.float().mean()).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def on_train_end(self) -> None:
        Path(self.out_dir, f"rank{self.global_rank}.json").write_text(json.dumps(self.seen))


@pytest.mark.slow
def test_ddp_ranks_draw_the_cuts_one_process_draws(corpus, tmp_path):
    dm = TranslationDataModule(
        CorpusFn(corpus), VOCAB, str(tmp_path / "cache"), max_tokens=300, max_len=MAX_LEN, sampling=SAMPLING
    )
    trainer = ddp_trainer(tmp_path)
    trainer.fit(PieceRecorder(str(tmp_path)), datamodule=dm)
    seen = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    one = _module(corpus, tmp_path / "cache")
    position = {int(pair): k for k, pair in enumerate(one.datasets["train"].index)}
    for epoch in (0, 1):
        drawn = _items(one, epoch)
        rows = seen[0][str(epoch)] + seen[1][str(epoch)]
        assert {pair for pair, _ in rows} == set(position)  # every pair, on one rank or the other
        for pair, src in rows:
            assert src == [*drawn[position[pair]][0], 3]  # the pieces one process draws, then EOS
