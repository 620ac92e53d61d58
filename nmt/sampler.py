"""Token-budget batches of similar-length sentence pairs, sharded over DDP processes.

Sorting pairs by length before cutting batches keeps padding low; bounding each batch by a token
budget (rather than a sentence count) keeps memory use flat whatever the sentence lengths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler

from nmt.errors import NmtError


def _cut(order: np.ndarray, lengths: np.ndarray, max_tokens: int) -> list[np.ndarray]:
    """Greedily cut ``order`` into consecutive batches of cost ``len(batch) * longest side`` <= max_tokens.

    ``order`` must be sorted by the longer side (as ``TokenBucketSampler._sorted`` sorts it), so a
    batch's cost is its size times the longer side of its last example, which grows along the batch:
    each cut is one search over at most ``max_tokens`` candidates, not a loop over examples. An
    example that alone exceeds the budget forms a batch of one. Returns views into ``order``.
    """
    longest = lengths.max(axis=1)[order] if len(order) else np.zeros(0, dtype=np.int64)  # (N,)
    batches: list[np.ndarray] = []
    i, n = 0, len(order)
    while i < n:
        window = longest[i : i + max_tokens]  # a batch never holds more than max_tokens examples
        cost = np.arange(1, len(window) + 1) * window
        size = max(1, int(np.searchsorted(cost, max_tokens, side="right")))  # cost is increasing
        batches.append(order[i : i + size])
        i += size
    return batches


def _distributed_defaults(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    """World size and rank from ``torch.distributed`` when it is initialised, else 1 and 0."""
    ready = dist.is_available() and dist.is_initialized()
    if num_replicas is None:
        num_replicas = dist.get_world_size() if ready else 1
    if rank is None:
        rank = dist.get_rank() if ready else 0
    if num_replicas < 1 or not 0 <= rank < num_replicas:
        raise ValueError(f"rank={rank} is not in [0, num_replicas={num_replicas})")
    return num_replicas, rank


class TokenBucketSampler(Sampler[list[int]]):
    """A batch sampler (``DataLoader(batch_sampler=...)``) of length-sorted, token-budgeted batches.

    Each epoch: sort the examples by length (the longer side, then source, then target; equal
    lengths in a random order per epoch when shuffling), cut the sorted list into batches whose
    cost ``len(batch) * max(longest source, longest target)`` stays within ``max_tokens``, then
    shuffle the order of the batches. The result depends only on ``seed`` and the epoch given to
    ``set_epoch``, so every process computes the same list and an interrupted run can be replayed.

    With ``shuffle=False`` the batches come in a fixed, length-sorted order (validation, test).

    ``epoch_lengths(epoch)`` (subword sampling, ``nmt.subword_sampling``): the pairs' lengths change
    every epoch. Each epoch is then sorted by its own lengths and cut into batches of the sizes
    ``lengths`` gives (the k-th batch of the sorted order holds as many pairs as without sampling),
    so a batch's pairs are alike in length again and the number of batches stays that of
    ``lengths``; a batch costs what its drawn pieces cost, a little over ``max_tokens`` when the draws
    are longer than the best cut.

    Resuming inside an epoch: ``start_at(epoch, k)`` makes the next iteration of that epoch begin
    at its k-th batch (the first k were trained on before the interruption); ``ResumableLoader``
    does this for Lightning from the loader's ``state_dict``.

    Under DDP each process (``rank`` of ``num_replicas``) takes every ``num_replicas``-th batch.
    All processes must take the same number of batches or DDP's gradient sync hangs, so when the
    number of batches does not divide, the first few batches of the epoch's list are repeated to
    fill the last round: only then does an example appear twice in one epoch (on two processes).
    On a single process every example appears exactly once per epoch.

    Args:
        lengths: ``lengths[k]`` = (source length, target length) of example k (a list of pairs or an
            (N, 2) array, e.g. a store's memory-mapped lengths plus one), each including
            the EOS/BOS it gets in the batch (pieces + 1).
        max_tokens: the budget of one batch, in padded positions of its longer side.
        shuffle: random tie order and batch order per epoch (training) or a fixed order.
        seed: the same on every process.
        num_replicas, rank: default to ``torch.distributed``'s world size and rank when it is
            initialised, else 1 and 0.
    """

    def __init__(
        self,
        lengths: Sequence[tuple[int, int]],
        max_tokens: int,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        epoch_lengths: Callable[[int], np.ndarray] | None = None,
    ) -> None:
        if max_tokens < 1:
            raise ValueError(f"max_tokens={max_tokens} must be a positive number of tokens per batch")
        # (N, 2); an int32 memory map (a store's lengths) is not copied
        self.lengths = np.asarray(lengths).astype(np.int32, copy=False).reshape(-1, 2)
        self.max_tokens = int(max_tokens)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.epoch = 0
        self._resume: tuple[int, int] | None = None  # (epoch, batches already seen) for the next __iter__
        self.num_replicas, self.rank = _distributed_defaults(num_replicas, rank)
        # Batch boundaries depend only on the sorted lengths, which ties cannot change, so the
        # number of batches is the same every epoch.
        self._sizes = [len(b) for b in _cut(self._sorted(None, self.lengths), self.lengths, self.max_tokens)]
        self._num_batches = len(self._sizes)
        self.epoch_lengths = epoch_lengths

    @property
    def sampler(self) -> TokenBucketSampler:
        """This sampler itself.

        Lightning calls ``set_epoch`` on ``dataloader.sampler`` and ``dataloader.batch_sampler.sampler``
        but not on the batch sampler itself (``lightning_fabric.utilities.data._set_sampler_epoch``);
        answering as our own ``.sampler`` is how its fit loop reaches our ``set_epoch``.
        """
        return self

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order ``__iter__`` yields (call before each epoch)."""
        self.epoch = int(epoch)

    @staticmethod
    def _sorted(rng: np.random.Generator | None, lengths: np.ndarray) -> np.ndarray:
        """Example indices sorted by (longer side, source, target); ties in ``rng``'s order."""
        n = len(lengths)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        lens = lengths  # (N, 2)
        start = rng.permutation(n) if rng is not None else np.arange(n)
        lens = lens[start]
        # lexsort sorts by the last key first; "stable" keeps ``start``'s order among equals.
        order = np.lexsort((lens[:, 1], lens[:, 0], lens.max(axis=1)))
        return start[order]

    def epoch_batches(self) -> list[list[int]]:
        """This process's batches for the current epoch, in order (what ``__iter__`` yields)."""
        return [b.tolist() for b in self._epoch_arrays()]

    def _epoch_arrays(self) -> list[np.ndarray]:
        """``epoch_batches`` as index arrays (one int64 array of the epoch's order, viewed)."""
        rng = np.random.default_rng([self.seed, self.epoch]) if self.shuffle else None
        if self.epoch_lengths is None:
            batches = _cut(self._sorted(rng, self.lengths), self.lengths, self.max_tokens)
        else:  # this epoch's drawn lengths, cut at the batch sizes of the best cut's
            order = self._sorted(rng, np.asarray(self.epoch_lengths(self.epoch)).reshape(-1, 2))
            batches = np.split(order, np.cumsum(self._sizes)[:-1]) if len(order) else []
        if rng is not None:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        if self.num_replicas > 1 and batches:
            total = len(self) * self.num_replicas
            batches = [batches[i % len(batches)] for i in range(total)]  # repeat from the start
        return batches[self.rank :: self.num_replicas]

    def start_at(self, epoch: int, batches_done: int) -> None:
        """Make the next iteration over ``epoch`` skip its first ``batches_done`` batches (a resume).

        Iterating over any other epoch first cancels it; it applies to one iteration only.
        """
        if not 0 <= batches_done <= len(self):
            raise ValueError(f"batches_done={batches_done} is not in [0, {len(self)}] batches of an epoch")
        self._resume = (int(epoch), int(batches_done))

    def __iter__(self) -> Iterator[list[int]]:
        # Read at the first next(), i.e. after Lightning's set_epoch for this epoch.
        resume, self._resume = self._resume, None
        skip = resume[1] if resume is not None and resume[0] == self.epoch else 0
        for batch in self._epoch_arrays()[skip:]:
            yield batch.tolist()

    def __len__(self) -> int:
        """Batches per epoch on this process (the same on every process)."""
        return -(-self._num_batches // self.num_replicas)


class ResumableLoader(DataLoader):
    """A ``DataLoader`` over a ``TokenBucketSampler`` whose position inside an epoch can be saved.

    Lightning stores ``state_dict()`` of a train loader that has one in every checkpoint and gives
    it back to ``load_state_dict`` on ``fit(ckpt_path=…)``: the resumed epoch then skips the batches
    already trained on and yields the rest, in the same order. Batches are counted as the loader
    hands them out (not as the sampler yields them), so worker prefetching does not shift the count.
    """

    batch_sampler: TokenBucketSampler

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.batch_sampler, TokenBucketSampler):
            raise TypeError("ResumableLoader needs batch_sampler=TokenBucketSampler(...)")
        self._epoch, self._done = 0, 0

    def __iter__(self) -> Iterator[Any]:
        sampler = self.batch_sampler
        resume = sampler._resume
        self._epoch = sampler.epoch
        self._done = resume[1] if resume is not None and resume[0] == sampler.epoch else 0
        if hasattr(self.dataset, "set_epoch"):  # a dataset whose items change per epoch (data.sampling)
            self.dataset.set_epoch(sampler.epoch)
        for batch in super().__iter__():
            self._done += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        """Where training stands in the epoch: its number, the batches handed out, the epoch's size."""
        return {"epoch": self._epoch, "batches_done": self._done, "batches_per_epoch": len(self.batch_sampler)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume inside the saved epoch (Lightning calls this before the epoch starts again)."""
        expected = state.get("batches_per_epoch")
        if expected is not None and expected != len(self.batch_sampler):
            raise NmtError(
                f"the checkpoint was written with {expected} training batches per epoch but the data now gives "
                f"{len(self.batch_sampler)}: the training data or data.max_tokens changed since the run started; "
                "resume with the run's own data, or start a new run"
            )
        self.batch_sampler.start_at(state["epoch"], state["batches_done"])
        self._epoch, self._done = state["epoch"], state["batches_done"]


def padding_fraction(batches: Sequence[Sequence[int]], lengths: Sequence[tuple[int, int]]) -> float:
    """Fraction of padded positions over the source and target tensors of ``batches``.

    A batch of B pairs takes B × (longest source) + B × (longest target) positions; the
    padding is what the pairs' own lengths do not fill.
    """
    total = filled = 0
    for batch in batches:
        src = [lengths[k][0] for k in batch]
        tgt = [lengths[k][1] for k in batch]
        total += len(batch) * (max(src) + max(tgt))
        filled += sum(src) + sum(tgt)
    return 1.0 - filled / total if total else 0.0
