"""The Lightning DataModule: corpus → SentencePiece ids → token-bucketed ``Batch``es.

The training split is encoded once into a memory-mapped store in the cache (``nmt.store``) and read
from it lazily, batch by batch; later runs on the same text and vocabulary reuse the store.

Under DDP, create the Trainer with ``use_distributed_sampler=False``: ``TokenBucketSampler``
shards the batches itself (and gets ``set_epoch`` from Lightning's fit loop, see its ``sampler``
property). Evaluation loaders are sharded too; a process may see a repeated batch (to keep batch
counts equal), so gather hypotheses with ``Batch.index`` and drop duplicate indices.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_only
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from nmt.batch import Batch
from nmt.corpora.base import ParallelCorpus
from nmt.decoding import cut_sources
from nmt.errors import ConfigError
from nmt.sampler import ResumableLoader, TokenBucketSampler
from nmt.store import Store, store_key, write_store
from nmt.subword_sampling import SampledCuts, SubwordSampling
from nmt.vocab import Vocab, VocabSettings, cache_key

log = logging.getLogger(__name__)

_PROGRESS_LINES = 20_000  # encode with a progress bar above this many lines
_CHUNK = 10_000


@rank_zero_only
def _warn(message: str) -> None:
    log.warning(message)


def eval_budget(max_tokens: int, eval_max_tokens: int | None) -> int:
    """The batch budget of every split but train (val, test, nmt.bench's decoding rows): ``eval_max_tokens``,
    or the training budget ``max_tokens`` when it is unset."""
    return int(eval_max_tokens or max_tokens)


def ids_fingerprint(corpus: ParallelCorpus, vocab: Mapping[str, Any]) -> str:
    """SHA-256 naming the data and tokenisation of a run: every split's text and the vocab settings.

    Two runs with the same fingerprint saw the same sentences and cut them into pieces the
    same way, so their scores may be compared. ``max_len`` is not part of it: it only filters
    training pairs and is a training choice like any other.
    """
    payload = {
        "corpus": corpus.name,
        "splits": {name: corpus.fingerprint(name) for name in sorted(corpus.splits)},
        "vocab": VocabSettings.from_mapping(vocab).key_settings(len(corpus.splits["train"])),
        "special_ids": [Vocab.pad_id, Vocab.unk_id, Vocab.bos_id, Vocab.eos_id],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class PairDataset(Dataset):
    """Encoded pairs; item k is (source ids, target ids, position of the pair in its split)."""

    def __init__(self, src: list[list[int]], tgt: list[list[int]], index: list[int]) -> None:
        self.src, self.tgt, self.index = src, tgt, index

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, k: int) -> tuple[list[int], list[int], int]:
        return self.src[k], self.tgt[k], self.index[k]

    def lengths(self) -> list[tuple[int, int]]:
        """(source, target) lengths as batched: +1 for the EOS / BOS each side gets."""
        return [(len(s) + 1, len(t) + 1) for s, t in zip(self.src, self.tgt, strict=True)]


class StoreDataset(Dataset):
    """Training pairs read from a ``Store``: item k is pair ``index[k]`` of the split.

    Nothing is loaded but ``index`` (the pairs kept, e.g. within ``max_len``): ids are read from
    the memory maps when a batch asks for them, in whichever process builds the batch. With
    ``cuts`` (``data.sampling``) the pieces are drawn anew for the epoch given to ``set_epoch``
    (``ResumableLoader`` gives it): ``epoch_lengths`` draws the whole epoch, for the batches to be
    cut from the drawn lengths, and items then come from those draws.
    """

    def __init__(self, store: Store, index: np.ndarray, cuts: SampledCuts | None = None) -> None:
        self.store, self.index, self.cuts = store, index, cuts
        self.epoch = 0
        # (epoch, pieces of each item, their (N, 2) lengths as batched)
        self._drawn: tuple[int, list[tuple[list[int], list[int]]], np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.index)

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose sampled cuts items have (no effect without ``cuts``).

        With ``cuts`` the epoch is drawn here, once: ``ResumableLoader`` calls this before its
        worker processes start, so they take the draws with the dataset instead of drawing again.
        """
        self.epoch = int(epoch)
        if self.cuts is not None:
            self.epoch_lengths(self.epoch)

    def _draw(self, k: int, epoch: int) -> tuple[list[int], list[int]]:
        """Item k's pieces in ``epoch``: drawn, or the store's best cut (no sampling, or a draw over max_len)."""
        pair = int(self.index[k])
        drawn = self.cuts.ids(pair, epoch) if self.cuts is not None else None
        if drawn is not None:
            return drawn
        src, tgt = self.store[pair]
        return src.tolist(), tgt.tolist()

    def epoch_lengths(self, epoch: int) -> np.ndarray:
        """(N, 2) lengths of ``epoch``'s drawn pieces, as batched (+1); the draws are kept for ``__getitem__``."""
        if self._drawn is None or self._drawn[0] != epoch:
            pieces = [self._draw(k, epoch) for k in range(len(self))]
            lengths = np.array([(len(src) + 1, len(tgt) + 1) for src, tgt in pieces], dtype=np.int32).reshape(-1, 2)
            lengths.flags.writeable = False  # handed to every caller: the epoch's draws, read-only
            self._drawn = (epoch, pieces, lengths)
        return self._drawn[2]

    def __getitem__(self, k: int) -> tuple[list[int], list[int], int]:
        if self._drawn is not None and self._drawn[0] == self.epoch:
            src, tgt = self._drawn[1][k]
        else:  # no sampling (or an epoch never given to set_epoch): the same pieces, drawn here
            src, tgt = self._draw(k, self.epoch)
        return src, tgt, int(self.index[k])

    def lengths(self) -> np.ndarray:
        """(N, 2) lengths of the best cut, as batched: +1 for the EOS / BOS each side gets."""
        return self.store.lengths[self.index] + 1


class Collate:
    """Turns a list of dataset items into one ``Batch`` (a class, so worker processes can pickle it)."""

    def __init__(self, pad_id: int, bos_id: int, eos_id: int) -> None:
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id

    def __call__(self, items: Sequence[tuple[list[int], list[int], int]]) -> Batch:
        src, tgt, index = zip(*items, strict=True)
        return Batch.from_ids(src, tgt, index, self.pad_id, self.bos_id, self.eos_id)


class TranslationDataModule(pl.LightningDataModule):
    """Corpus, vocabulary and token-bucketed loaders for every split.

    Args:
        corpus: zero-argument callable returning the ``ParallelCorpus`` (it downloads on first call).
        vocab: SentencePiece settings: size, model_type, joint, character_coverage, sample_lines.
        cache_dir: where SentencePiece models (and the corpus's downloads) are cached.
        max_tokens: training batch budget (see ``TokenBucketSampler``).
        max_len: training pairs with more pieces than this on either side are dropped
            (EOS/BOS not counted). Validation and test pairs are never dropped: their sources are
            cut to ``max_len`` pieces, as ``nmt.evaluate`` and ``nmt.translate`` cut them.
        eval_max_tokens: batch budget for other splits; defaults to ``max_tokens``.
        num_workers: DataLoader worker processes (persistent when > 0).
        seed: seeds the training batch order (with the epoch).
        prepare_workers: processes that encode the training split into its store the first time
            (0: this process).
        sampling: subword regularisation of the training split (``nmt.subword_sampling``):
            ``{"alpha": …}``, or None for the best cut every epoch.
    """

    def __init__(
        self,
        corpus: Callable[[], ParallelCorpus],
        vocab: Mapping[str, Any],
        cache_dir: str,
        max_tokens: int = 4096,
        max_len: int = 128,
        eval_max_tokens: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        prepare_workers: int = 0,
        sampling: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.corpus_fn = corpus
        self.vocab_settings = VocabSettings.from_mapping(vocab)
        self.cache_dir = str(cache_dir)
        if max_len < 1:
            raise ConfigError(f"data.max_len={max_len} must be a positive number of pieces")
        self.max_tokens, self.max_len, self.eval_max_tokens = max_tokens, max_len, eval_max_tokens
        self.num_workers, self.seed, self.prepare_workers = num_workers, seed, prepare_workers
        self.sampling = SubwordSampling.from_config(sampling, self.vocab_settings.model_type)
        self.corpus: ParallelCorpus | None = None
        self.vocab: Vocab | None = None
        self.datasets: dict[str, PairDataset | StoreDataset] = {}

    def prepare_data(self) -> None:
        """Download the corpus, train (or find cached) the vocabulary and encode the training store.

        Lightning runs it on one process per node; ``python -m nmt.prepare`` runs it alone.
        """
        self.prepare_store()

    def prepare_store(self) -> Store:
        """The training split's store: opened from the cache, or encoded into it first (and the vocabulary)."""
        corpus = self._corpus()
        vocab = self.vocab or Vocab.build(corpus, cache_dir=self.cache_dir, **asdict(self.vocab_settings))
        fingerprint = corpus.fingerprint("train")
        folder = Path(self.cache_dir) / "store" / store_key(fingerprint, vocab)
        split = corpus.splits["train"]
        write_store(
            zip(split.src, split.tgt, strict=True),
            vocab,
            Path(self.cache_dir) / "spm" / cache_key(corpus, self.vocab_settings),
            folder,
            total=len(split),
            workers=self.prepare_workers,
            describe={"corpus": corpus.name, "split": "train", "fingerprint": fingerprint},
        )
        return Store(folder)

    def setup(self, stage: str | None = None) -> None:
        """Load the corpus and vocabulary and encode every split (once, whatever the stage)."""
        if self.datasets:
            return
        self.corpus = self.corpus_fn()
        self.vocab = Vocab.build(self.corpus, cache_dir=self.cache_dir, **asdict(self.vocab_settings))
        for name in self.corpus.splits:
            self.datasets[name] = self._train_split() if name == "train" else self._encode_split(name)

    def _train_split(self) -> StoreDataset:
        """The training pairs within ``max_len`` pieces on both sides, read from the store."""
        store = self.prepare_store()
        keep = np.flatnonzero((store.lengths <= self.max_len).all(axis=1))  # (kept,)
        if not len(keep) and len(store):
            raise ConfigError(f"all {len(store)} training pairs are longer than data.max_len={self.max_len}; raise it")
        if len(keep) < len(store):
            _warn(
                f"train: dropped {len(store) - len(keep)} of {len(store)} pairs longer than "
                f"max_len={self.max_len} pieces on either side"
            )
        return StoreDataset(store, keep, self._sampled_cuts())

    def _sampled_cuts(self) -> SampledCuts | None:
        """What draws the training pieces per epoch under ``data.sampling`` (None: the store's best cut)."""
        if self.sampling is None:
            return None
        split = self.corpus.splits["train"]
        if hasattr(split.src, "pairs"):  # nmt.corpora.streaming: lines are read by scanning the file
            raise ConfigError(
                f"data.sampling draws each epoch's pieces from the training text, which corpus {self.corpus.name!r} "
                "streams from disk instead of holding in memory; set data.sampling=null"
            )
        return SampledCuts(split.src, split.tgt, self.vocab, self.sampling, self.seed, self.max_len)

    def _encode_split(self, name: str) -> PairDataset:
        """An evaluation split, encoded in memory (every line kept; sources cut to ``max_len``)."""
        split = self.corpus.splits[name]
        src = self._encode(self.vocab.encode_src, split.src, f"{name} source")
        tgt = self._encode(self.vocab.encode_tgt, split.tgt, f"{name} target")
        index = list(range(len(src)))
        too_long = sum(len(s) > self.max_len for s in src)
        if too_long:
            _warn(
                f"{name}: {too_long} source sentences longer than max_len={self.max_len} pieces are cut there "
                "(as nmt.evaluate and nmt.translate cut them; kept: scores need every line)"
            )
            src = cut_sources(src, self.max_len)[0]
        return PairDataset(src, tgt, index)

    @staticmethod
    def _encode(encode: Callable[[list[str]], list[list[int]]], lines: list[str], what: str) -> list[list[int]]:
        if len(lines) <= _PROGRESS_LINES:
            return encode(lines)
        out: list[list[int]] = []
        with tqdm(total=len(lines), desc=f"encoding {what}", unit=" lines", unit_scale=True, disable=None) as bar:
            for start in range(0, len(lines), _CHUNK):
                chunk = lines[start : start + _CHUNK]
                out.extend(encode(chunk))
                bar.update(len(chunk))
        return out

    # ----------------------------------------------------------------- what the other stages read
    @property
    def eval_budget(self) -> int:
        """The batch budget of val and test (``nmt.data.eval_budget``)."""
        return eval_budget(self.max_tokens, self.eval_max_tokens)

    @property
    def split_names(self) -> list[str]:
        """The corpus's splits: "train", "val", "test" and any extra test sets."""
        return list(self._corpus().splits)

    def sources(self, split: str) -> list[str]:
        """The raw source lines of ``split`` (all of them, in order)."""
        return list(self._corpus().splits[split].src)

    def references(self, split: str) -> list[str]:
        """The raw target lines of ``split``: the references for BLEU."""
        return list(self._corpus().splits[split].tgt)

    def alignments(self, split: str) -> list[str] | None:
        """Gold Pharaoh alignments of ``split`` if the corpus has them, else None."""
        return self._corpus().splits[split].alignments

    def ids_fingerprint(self) -> str:
        """See ``ids_fingerprint``: equal for runs on the same data and tokenisation."""
        return ids_fingerprint(self._corpus(), asdict(self.vocab_settings))

    def _corpus(self) -> ParallelCorpus:
        if self.corpus is None:  # reading text needs no vocabulary: load the corpus alone
            self.corpus = self.corpus_fn()
        return self.corpus

    # ----------------------------------------------------------------- loaders
    def dataloader(
        self, split: str, shuffle: bool = False, max_tokens: int | None = None, shard: bool = True
    ) -> DataLoader:
        """Batches of ``split``: shuffled per epoch, or length-sorted in a fixed order.

        ``max_tokens`` defaults to the training budget for "train" and to ``eval_max_tokens``
        (or the training budget) for every other split. Under DDP each rank gets its own shard;
        ``shard=False`` gives one process the whole split (scoring a test set on rank 0).
        """
        if split not in self.datasets:
            raise KeyError(f"unknown split {split!r} (call setup() first); have {sorted(self.datasets)}")
        if max_tokens is None:
            max_tokens = self.max_tokens if split == "train" else self.eval_budget
        dataset = self.datasets[split]
        whole = {} if shard else {"num_replicas": 1, "rank": 0}
        # Workers that outlive an epoch would keep the dataset's old epoch, and so its old sampled cuts.
        per_epoch = getattr(dataset, "cuts", None) is not None
        # data.sampling: each epoch's batches are cut from that epoch's drawn lengths (see TokenBucketSampler).
        epoch_lengths = dataset.epoch_lengths if per_epoch and shuffle else None
        sampler = TokenBucketSampler(
            dataset.lengths(), max_tokens, shuffle=shuffle, seed=self.seed, epoch_lengths=epoch_lengths, **whole
        )
        # Its own generator: making an iterator draws a worker seed, which would otherwise advance the
        # global RNG (dropout) differently in a resumed run than in an uninterrupted one.
        return ResumableLoader(
            dataset,
            batch_sampler=sampler,
            generator=torch.Generator().manual_seed(self.seed),
            collate_fn=Collate(self.vocab.pad_id, self.vocab.bos_id, self.vocab.eos_id),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0 and not per_epoch,
        )

    def train_dataloader(self) -> DataLoader:
        return self.dataloader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self.dataloader("test")


def build_datamodule(cfg: DictConfig) -> TranslationDataModule:
    """The shared DataModule for ``cfg.data`` (corpus, SentencePiece, token-bucket batches)."""
    return TranslationDataModule(
        corpus=instantiate(cfg.data.corpus, _partial_=True),
        vocab=OmegaConf.to_container(cfg.data.vocab, resolve=True),
        cache_dir=str(Path(cfg.cache_dir).expanduser()),
        max_tokens=cfg.data.max_tokens,
        max_len=cfg.data.max_len,
        eval_max_tokens=cfg.data.get("eval_max_tokens"),
        num_workers=cfg.data.get("num_workers", 0),
        seed=cfg.seed,
        prepare_workers=cfg.data.get("prepare_workers", 0),
        sampling=OmegaConf.to_container(cfg.data.sampling) if cfg.data.get("sampling") is not None else None,
    )
