"""Token-bucket batch sampler: budget, coverage, determinism, DDP sharding, padding."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from lightning_fabric.utilities.data import _set_sampler_epoch
from torch.utils.data import DataLoader

import nmt.sampler as sampler_module
from nmt.sampler import TokenBucketSampler, padding_fraction


def realistic_lengths(n: int = 29_000, seed: int = 0) -> list[tuple[int, int]]:
    """Lengths shaped like Multi30k with an 8k joint unigram vocab (mean ~16 pieces, max ~55),
    target correlated with source; each +1 for EOS/BOS."""
    rng = np.random.default_rng(seed)
    src = np.clip(rng.lognormal(np.log(14), 0.35, n).round(), 3, 55).astype(int)
    tgt = np.clip((src * rng.normal(1.05, 0.12, n)).round(), 2, 60).astype(int)
    return [(int(s) + 1, int(t) + 1) for s, t in zip(src, tgt, strict=True)]


def cost(batch: list[int], lengths: list[tuple[int, int]]) -> int:
    return len(batch) * max(max(lengths[k]) for k in batch)


def flat(batches) -> list[int]:
    return [k for b in batches for k in b]


def test_budget_is_respected_and_every_example_comes_once():
    lengths = realistic_lengths(3000)
    for shuffle in (True, False):
        batches = list(TokenBucketSampler(lengths, max_tokens=500, shuffle=shuffle))
        assert sorted(flat(batches)) == list(range(len(lengths)))
        assert all(cost(b, lengths) <= 500 for b in batches)


def test_an_over_budget_example_forms_a_batch_of_one():
    lengths = [(3, 4), (5, 5), (400, 20), (4, 3), (2, 2)]
    batches = list(TokenBucketSampler(lengths, max_tokens=20, shuffle=False))
    assert [2] in batches
    assert sorted(flat(batches)) == [0, 1, 2, 3, 4]
    assert all(cost(b, lengths) <= 20 for b in batches if b != [2])


def test_unshuffled_order_is_fixed_and_length_sorted():
    lengths = realistic_lengths(2000)
    s = TokenBucketSampler(lengths, max_tokens=400, shuffle=False)
    first = list(s)
    s.set_epoch(3)
    assert list(s) == first
    longest = [max(max(lengths[k]) for k in b) for b in first]
    assert longest == sorted(longest)


def test_shuffled_order_depends_on_seed_and_epoch_only():
    lengths = realistic_lengths(2000)
    a, b = TokenBucketSampler(lengths, 400, seed=1), TokenBucketSampler(lengths, 400, seed=1)
    epoch0 = list(a)
    assert list(b) == epoch0  # same seed, same epoch, another object
    a.set_epoch(1)
    epoch1 = list(a)
    assert epoch1 != epoch0
    assert sorted(flat(epoch1)) == sorted(flat(epoch0))
    a.set_epoch(0)
    assert list(a) == epoch0
    assert list(TokenBucketSampler(lengths, 400, seed=2)) != epoch0


def test_ties_are_broken_differently_per_epoch():
    lengths = [(5, 5)] * 40  # all equal: batch contents only change through tie order
    s = TokenBucketSampler(lengths, max_tokens=50)
    contents = []
    for epoch in range(3):
        s.set_epoch(epoch)
        contents.append({frozenset(b) for b in s})
    assert contents[0] != contents[1] != contents[2]
    assert all(len(b) == 10 for b in s)


def test_len_is_exact_every_epoch():
    lengths = realistic_lengths(1500)
    s = TokenBucketSampler(lengths, max_tokens=333)
    for epoch in range(4):
        s.set_epoch(epoch)
        assert len(list(s)) == len(s)


@pytest.mark.parametrize(("n", "replicas"), [(1500, 2), (1500, 3), (1501, 3), (7, 3), (2, 4)])
def test_ddp_shards_are_disjoint_with_equal_counts(n, replicas):
    lengths = realistic_lengths(n, seed=n)
    single = TokenBucketSampler(lengths, max_tokens=300, seed=5, num_replicas=1, rank=0)
    single.set_epoch(2)
    whole = list(single)
    shards = []
    for rank in range(replicas):
        s = TokenBucketSampler(lengths, max_tokens=300, seed=5, num_replicas=replicas, rank=rank)
        s.set_epoch(2)
        shards.append(list(s))
        assert len(shards[-1]) == len(s)
    assert len({len(shard) for shard in shards}) == 1  # equal counts, or DDP hangs
    all_batches = [b for shard in shards for b in shard]
    assert sorted(flat(set(map(tuple, all_batches)))) == list(range(n))  # every example, whole batches
    extra = len(all_batches) - len(whole)
    assert 0 <= extra < replicas
    repeats = Counter(map(tuple, all_batches)) - Counter(map(tuple, whole))
    assert sum(repeats.values()) == extra  # only the padding batches repeat
    if len(whole) % replicas == 0:
        for x, y in itertools.combinations(shards, 2):
            assert not set(flat(x)) & set(flat(y))


def test_replicas_default_to_torch_distributed(monkeypatch):
    lengths = realistic_lengths(100)
    assert (TokenBucketSampler(lengths, 100).num_replicas, TokenBucketSampler(lengths, 100).rank) == (1, 0)
    monkeypatch.setattr(sampler_module.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(sampler_module.dist, "get_world_size", lambda: 4)
    monkeypatch.setattr(sampler_module.dist, "get_rank", lambda: 3)
    s = TokenBucketSampler(lengths, 100)
    assert (s.num_replicas, s.rank) == (4, 3)
    with pytest.raises(ValueError, match="rank=4"):
        TokenBucketSampler(lengths, 100, num_replicas=4, rank=4)


def test_empty_and_bad_budget():
    assert list(TokenBucketSampler([], 100)) == [] and len(TokenBucketSampler([], 100, num_replicas=2, rank=1)) == 0
    with pytest.raises(ValueError, match="max_tokens"):
        TokenBucketSampler([(1, 1)], 0)


def test_lightning_reaches_set_epoch_through_a_dataloader():
    s = TokenBucketSampler(realistic_lengths(50), 100)
    loader = DataLoader(list(range(50)), batch_sampler=s)
    _set_sampler_epoch(loader, 7)  # what Lightning's fit loop calls before each epoch
    assert s.epoch == 7


def test_padding_fraction_counts_both_sides():
    lengths = [(2, 4), (4, 4), (3, 1)]
    # batch [0, 1]: src 2×4 = 8 cells, 6 filled; tgt 2×4 = 8 cells, 8 filled. batch [2]: no padding.
    assert padding_fraction([[0, 1], [2]], lengths) == pytest.approx(1 - (6 + 8 + 4) / (8 + 8 + 4))
    assert padding_fraction([], lengths) == 0.0


def test_padding_is_low_at_the_default_budget():
    lengths = realistic_lengths()
    fraction = padding_fraction(list(TokenBucketSampler(lengths, max_tokens=4096)), lengths)
    print(f"padding fraction at 4096 tokens: {fraction:.3f}")
    assert fraction <= 0.10


def test_a_resumed_epoch_yields_exactly_the_batches_not_yet_seen():
    from nmt.sampler import ResumableLoader

    lengths = realistic_lengths(400)
    dataset = list(range(len(lengths)))

    def loader():
        return ResumableLoader(dataset, batch_sampler=TokenBucketSampler(lengths, 300, seed=3), collate_fn=list)

    full = loader()
    full.batch_sampler.set_epoch(2)
    whole = list(full)
    first = loader()
    first.batch_sampler.set_epoch(2)
    it = iter(first)
    seen = [next(it) for _ in range(7)]
    state = first.state_dict()
    assert state == {"epoch": 2, "batches_done": 7, "batches_per_epoch": len(whole)}
    resumed = loader()
    resumed.load_state_dict(state)
    resumed.batch_sampler.set_epoch(2)  # Lightning sets the epoch after loading the state
    rest = list(resumed)
    assert seen + rest == whole
    assert resumed.state_dict()["batches_done"] == len(whole)
    resumed.batch_sampler.set_epoch(3)  # the skip applies to the resumed epoch only
    assert len(list(resumed)) == len(whole)


def test_resuming_with_other_data_is_refused():
    from nmt.errors import NmtError
    from nmt.sampler import ResumableLoader

    lengths = realistic_lengths(400)
    loader = ResumableLoader(list(range(400)), batch_sampler=TokenBucketSampler(lengths, 300), collate_fn=list)
    with pytest.raises(NmtError, match=r"written with 3 training batches per epoch but the data now gives \d+"):
        loader.load_state_dict({"epoch": 0, "batches_done": 1, "batches_per_epoch": 3})


def test_epoch_lengths_resort_each_epoch_into_batches_of_the_same_sizes():
    """Subword sampling: each epoch's own lengths sort the pairs; the batch sizes are the best cut's."""
    rng = np.random.default_rng(0)
    best = rng.integers(2, 40, size=(500, 2))
    drawn = {e: best + rng.integers(0, 8, size=best.shape) for e in range(2)}  # longer, by a different amount
    plain = TokenBucketSampler(best, 300, shuffle=True, seed=1)
    sampler = TokenBucketSampler(best, 300, shuffle=True, seed=1, epoch_lengths=drawn.__getitem__)
    sizes = sorted(len(b) for b in plain.epoch_batches())
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        batches = sampler.epoch_batches()
        assert len(batches) == len(sampler) == len(plain) and sorted(len(b) for b in batches) == sizes
        assert sorted(k for b in batches for k in b) == list(range(500))
        longest = drawn[epoch].max(axis=1)
        runs = sorted((longest[b].min(), longest[b].max()) for b in batches)
        assert all(high <= next_low for (_, high), (next_low, _) in itertools.pairwise(runs))
    sampler.set_epoch(0)
    assert sampler.epoch_batches() != batches  # epoch 1's
