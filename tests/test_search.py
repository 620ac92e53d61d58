"""Properties of nmt.search on tiny random models (a test-only GRU LM, and the real models)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from omegaconf import OmegaConf
from torch import Tensor

from nmt.batch import Batch
from nmt.models.base import DecoderState, Seq2Seq, StepOutput
from nmt.search import DecodeSettings, Hypothesis, beam_search, decode, greedy, max_lengths, sample
from tests.search_models import (
    BOS,
    CONF,
    EOS,
    MODELS,
    PAD,
    ScriptedLM,
    V,
    batch,
    forced_logits,
    teacher_forced,
    tiny,
    tokens,
)

# ---- greedy and beam ------------------------------------------------------------------------------


@pytest.mark.parametrize("make", MODELS)
def test_beam_1_is_greedy(make):
    model, b = make(1), batch(8, seed=1)
    g = greedy(model, b.src, b.src_mask, 1.0, 4)
    k1 = beam_search(model, b.src, b.src_mask, 1, 0.0, 1, 1.0, 4)
    assert tokens(g) == [h[0].tokens for h in k1]
    assert [h.log_prob for h in g] == pytest.approx([h[0].log_prob for h in k1], abs=1e-4)


@pytest.mark.parametrize("make", MODELS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_finds_at_least_greedy_log_prob(make, seed):
    model, b = make(seed), batch(8, seed=seed)
    g = greedy(model, b.src, b.src_mask, 1.0, 4)
    beams = beam_search(model, b.src, b.src_mask, 4, 0.0, 1, 1.0, 4)
    for gh, bh in zip(g, beams, strict=True):
        assert bh[0].log_prob >= gh.log_prob - 1e-4


@pytest.mark.parametrize("make", MODELS)
def test_scores_match_teacher_forcing(make):
    """log_prob is the model's probability of tokens + EOS, for greedy and every n-best entry."""
    model, b = make(3), batch(5, seed=3)
    nbest = beam_search(model, b.src, b.src_mask, 4, 0.6, 4, 1.0, 3)
    for i, (g, hyps) in enumerate(zip(greedy(model, b.src, b.src_mask, 1.0, 3), nbest, strict=True)):
        for h in [g, *hyps]:
            assert teacher_forced(model, b, i, h)[0] == pytest.approx(h.log_prob, abs=1e-3)
        for h in hyps:
            assert h.score == pytest.approx(h.log_prob / ((5 + len(h.tokens) + 1) / 6) ** 0.6, rel=1e-5)


@pytest.mark.parametrize("make", MODELS)
def test_n_best_sorted_and_distinct(make):
    model, b = make(4), batch(6, seed=4)
    for hyps in beam_search(model, b.src, b.src_mask, 5, 0.6, 5, 1.5, 3):
        assert 1 <= len(hyps) <= 5
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.tokens) for h in hyps}) == len(hyps)


@pytest.mark.parametrize("make", MODELS)
def test_batched_beam_equals_one_sentence_at_a_time(make):
    model, b = make(5), batch(7, seed=5)
    batched = beam_search(model, b.src, b.src_mask, 4, 0.6, 2, 1.5, 3)
    for i in range(len(b)):
        n = int(b.src_mask[i].sum())
        alone = beam_search(model, b.src[i : i + 1, :n], b.src_mask[i : i + 1, :n], 4, 0.6, 2, 1.5, 3)[0]
        assert tokens(alone) == tokens(batched[i])
        assert [h.score for h in alone] == pytest.approx([h.score for h in batched[i]], abs=1e-4)


def reference_beam(model: Seq2Seq, b: Batch, i: int, k: int, alpha: float, n_best: int, limit: int) -> list:
    """Beam search for one sentence, written plainly: every prefix re-read by teacher forcing, no
    early stop (runs until no live beam is left). Returns (tokens, score) of the n best."""
    live: list[tuple[list[int], float]] = [([], 0.0)]
    done: list[tuple[list[int], float]] = []
    for t in range(limit + 1):
        candidates = []
        for prefix, score in live:
            logp = forced_logits(model, b, i, Hypothesis(prefix, 0.0, 0.0))[-1].log_softmax(-1)  # (V,)
            for v in range(V):
                if v not in (PAD, BOS) and (t < limit or v == EOS):
                    candidates.append((score + float(logp[v]), prefix, v))
        candidates = sorted(candidates, key=lambda c: -c[0])[: 2 * k]
        done += [
            (p, s / ((5 + len(p) + 1) / 6) ** alpha) for r, (s, p, v) in enumerate(candidates) if v == EOS and r < k
        ]
        live = [(p + [v], s) for s, p, v in candidates if v != EOS][:k]
        if not live:
            break
    return sorted(done, key=lambda d: -d[1])[:n_best]


@pytest.mark.parametrize("make", MODELS)
@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0, -1.0])
def test_early_stopping_changes_nothing(make, alpha):
    """The batched, incremental search with its stopping rule == the plain search run to the end."""
    model, b = make(13), batch(5, seed=13)
    limits = max_lengths(b.src_mask, 1.0, 3).tolist()
    for i, hyps in enumerate(beam_search(model, b.src, b.src_mask, 3, alpha, 3, 1.0, 3)):
        expected = reference_beam(model, b, i, 3, alpha, 3, limits[i])
        assert tokens(hyps) == [e[0] for e in expected]
        assert [h.score for h in hyps] == pytest.approx([e[1] for e in expected], abs=1e-4)


def test_length_penalty_can_prefer_a_later_longer_hypothesis():
    """EOS first (p = .5) beats piece 3 (p = .35) on log-prob, but 3 3 3 3 3 EOS (p ≈ .35) wins under
    alpha = 2: the search must not stop when the first hypothesis finishes."""
    first = torch.tensor([0.0, 0.0, 0.5, 0.35] + [0.15 / (V - 4)] * (V - 4))
    table = torch.full((6, V), 1e-6)  # (T, V)
    table[0], table[1:5, 3], table[5, EOS] = first, 1.0, 1.0
    model, b = ScriptedLM(table / table.sum(-1, keepdim=True)), batch(2, seed=14)
    for alpha, expected in [(0.0, []), (2.0, [3] * 5)]:
        hyps = beam_search(model, b.src, b.src_mask, 1, alpha, 1, 0.0, 6)
        assert [h[0].tokens for h in hyps] == [expected, expected]


def test_negative_length_penalty_still_searches_past_the_first_hypothesis():
    """alpha < 0 favours short outputs, so the best reachable score is at the shortest length: EOS
    (p = .45, score -0.80) must not stop the search before 3 EOS (p ≈ .54, score -0.71)."""
    table = torch.full((2, V), 1e-6)  # (T, V)
    table[0, EOS], table[0, 3], table[1, EOS] = 0.45, 0.55, 0.99
    model, b = ScriptedLM(table / table.sum(-1, keepdim=True)), batch(2, seed=15)
    hyps = beam_search(model, b.src, b.src_mask, 2, -1.0, 1, 0.0, 6)
    assert [h[0].tokens for h in hyps] == [[3], [3]]


@pytest.mark.parametrize("make", MODELS)
@pytest.mark.parametrize("alpha", [0.0, -1.0])
def test_shortest_stopping_is_exact_without_a_length_bonus(make, alpha):
    """With alpha <= 0 the shortest completion is the best a live beam can reach: both rules agree."""
    model, b = make(17), batch(6, seed=17)
    exact = beam_search(model, b.src, b.src_mask, 3, alpha, 2, 1.0, 3)
    shortest = beam_search(model, b.src, b.src_mask, 3, alpha, 2, 1.0, 3, stopping="shortest")
    assert [tokens(h) for h in shortest] == [tokens(h) for h in exact]
    assert [[x.score for x in h] for h in shortest] == [[x.score for x in h] for h in exact]


def searched_rows(model: Seq2Seq, b: Batch, *args, stopping: str) -> tuple[list[list[Hypothesis]], int]:
    """``beam_search(model, b.src, b.src_mask, *args, stopping=…)`` and the rows its steps ran on."""
    rows, step = [], model.step

    def counted(prev: Tensor, state: DecoderState, need_weights: bool = False) -> StepOutput:
        rows.append(prev.numel())
        return step(prev, state, need_weights)

    model.step = counted  # type: ignore[method-assign]
    try:
        return beam_search(model, b.src, b.src_mask, *args, stopping=stopping), sum(rows)
    finally:
        del model.step


def test_shortest_stopping_steps_fewer_rows_and_can_miss_a_longer_winner():
    """The trade: under alpha = 2 the exact rule keeps searching and finds 3 3 3 3 3 EOS; "shortest"
    stops once EOS is the best a live beam could reach if it ended now, after one step."""
    first = torch.tensor([0.0, 0.0, 0.5, 0.35] + [0.15 / (V - 4)] * (V - 4))
    table = torch.full((6, V), 1e-6)  # (T, V)
    table[0], table[1:5, 3], table[5, EOS] = first, 1.0, 1.0
    model, b = ScriptedLM(table / table.sum(-1, keepdim=True)), batch(2, seed=14)
    exact, exact_rows = searched_rows(model, b, 1, 2.0, 1, 0.0, 6, stopping="exact")
    shortest, shortest_rows = searched_rows(model, b, 1, 2.0, 1, 0.0, 6, stopping="shortest")
    assert [h[0].tokens for h in exact] == [[3] * 5] * 2 and [h[0].tokens for h in shortest] == [[], []]
    assert shortest_rows == 2 < exact_rows  # one step of the two sentences


@pytest.mark.parametrize("make", MODELS)
def test_shortest_stopping_never_steps_more_rows(make):
    model, b = make(18), batch(8, seed=18)
    exact = searched_rows(model, b, 4, 1.0, 1, 1.5, 3, stopping="exact")[1]
    assert searched_rows(model, b, 4, 1.0, 1, 1.5, 3, stopping="shortest")[1] <= exact


@pytest.mark.parametrize("make", MODELS)
@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_bf16_decoding_scores_what_it_writes(make, strategy):
    """precision="bf16" runs the model in bfloat16 (autocast): the hypotheses' scores are still their
    fp32 log-probabilities (to bf16's rounding), and the attention comes back as fp32."""
    model, b = make(19), batch(5, seed=19)
    settings = DecodeSettings(strategy, beam_size=3, n_best=2 if strategy == "beam" else 1, precision="bf16")
    settings = replace(settings, max_len_a=1.0, max_len_b=3)
    for i, hyps in enumerate(decode(model, b.src, b.src_mask, settings, need_weights=True)):
        assert hyps
        for h in hyps:
            log_prob, attention = teacher_forced(model, b, i, h)
            assert h.log_prob == pytest.approx(log_prob, abs=0.05 * (len(h.tokens) + 1))
            assert h.attention is not None and h.attention.dtype == torch.float32
            assert torch.allclose(h.attention, attention, atol=0.05)


def test_finished_sentences_leave_the_batch():
    model, b = tiny(6), batch(8, seed=6)
    model.batch_sizes.clear()
    beam_search(model, b.src, b.src_mask, 3, 0.6, 1, 1.0, 2)
    # The first step reads the empty prefix once per sentence, then every sentence has 3 beams.
    assert model.batch_sizes[:2] == [8, 8 * 3] and model.batch_sizes[-1] < 8 * 3
    assert all(x % 3 == 0 for x in model.batch_sizes[1:])
    assert model.batch_sizes[1:] == sorted(model.batch_sizes[1:], reverse=True)
    model.batch_sizes.clear()
    greedy(model, b.src, b.src_mask, 1.0, 2)
    assert model.batch_sizes[0] == 8 and model.batch_sizes[-1] < 8


@pytest.mark.parametrize("make", MODELS)
def test_reordering_beams_within_their_sentences_keeps_the_source_fields(make):
    """``within_sentences=True`` copies only the per-beam fields, and the next step is the same as after a full copy."""
    model, b = make(16), batch(4, seed=16)
    K = 3
    state = model.init_state(model.encode(b.src, b.src_mask))
    state = model.reorder_state(state, torch.arange(4).repeat_interleave(K))  # (4·K rows)
    prev = torch.randint(3, V, (4 * K,), generator=torch.Generator().manual_seed(16))
    state = model.step(prev, state).state
    rows = (torch.arange(4)[:, None] * K + torch.tensor([[2, 0, 0], [1, 2, 1], [0, 0, 0], [2, 1, 0]])).flatten()
    full = model.reorder_state(state, rows)
    kept = model.reorder_state(state, rows, within_sentences=True)
    assert type(state).source_fields or make is tiny  # the real models name theirs
    for name in type(state).source_fields:
        assert getattr(kept, name) is getattr(state, name)  # not copied
    nxt = prev[rows]
    torch.testing.assert_close(model.step(nxt, kept).logits, model.step(nxt, full).logits, atol=0, rtol=0)


def test_tiny_vocabulary_fewer_candidates_than_beams():
    """V = 4 leaves one real piece and EOS: at most 2 continuations per beam, K = 5 beams."""
    model, b = tiny(7, vocab=4), batch(3, seed=7)
    b.src.clamp_(max=3)
    for hyps in beam_search(model, b.src, b.src_mask, 5, 0.0, 5, 1.0, 2):
        assert 1 <= len(hyps) <= 5 and len({tuple(h.tokens) for h in hyps}) == len(hyps)
        assert all(set(h.tokens) <= {3} for h in hyps)


# ---- sampling -------------------------------------------------------------------------------------


def _sample(model: Seq2Seq, b: Batch, seed: int, temperature: float = 1.0, top_k: int = 0) -> list[list[int]]:
    settings = DecodeSettings("sample", temperature=temperature, top_k=top_k, max_len_a=1.0, max_len_b=4, seed=seed)
    return [h[0].tokens for h in decode(model, b.src, b.src_mask, settings)]


@pytest.mark.parametrize("make", MODELS)
def test_sampling_reproducible_and_greedy_when_cold(make):
    model, b = make(8), batch(8, seed=8)
    assert _sample(model, b, seed=0) == _sample(model, b, seed=0)
    assert _sample(model, b, seed=0) != _sample(model, b, seed=1)
    assert _sample(model, b, seed=3, temperature=1e-4) == tokens(greedy(model, b.src, b.src_mask, 1.0, 4))


def test_top_k_samples_among_the_k_best_only():
    model, b = tiny(9, sharpness=0.1), batch(8, seed=9)  # flat distributions: plain sampling wanders
    assert _sample(model, b, seed=1, top_k=1) == tokens(greedy(model, b.src, b.src_mask, 1.0, 4))
    assert _sample(model, b, seed=1) != _sample(model, b, seed=1, top_k=1)
    hyps = sample(model, b.src, b.src_mask, 1.0, 3, 1.0, 4, torch.Generator().manual_seed(0))
    ranks = []
    for i, (h, limit) in enumerate(zip(hyps, max_lengths(b.src_mask, 1.0, 4).tolist(), strict=True)):
        logp = forced_logits(model, b, i, h).log_softmax(-1)  # (T + 1, V)
        logp[:, [PAD, BOS]] = float("-inf")
        chosen = torch.tensor(h.tokens + [EOS])  # (T + 1,)
        rank = (logp > logp.gather(1, chosen[:, None])).sum(1)  # (T + 1,)
        ranks += rank[: min(len(chosen), limit)].tolist()  # the step at the limit is a forced EOS
    assert max(ranks) == 2  # within the top 3, and not always the best


# ---- lengths, special ids, attention --------------------------------------------------------------


STRATEGIES = [
    DecodeSettings("greedy", max_len_a=1.0, max_len_b=2),
    DecodeSettings("beam", beam_size=3, n_best=3, max_len_a=1.0, max_len_b=2),
    DecodeSettings("sample", max_len_a=1.0, max_len_b=2, seed=0),
]


@pytest.mark.parametrize("settings", STRATEGIES, ids=lambda s: s.strategy)
def test_max_length_forces_eos(settings):
    never_eos = torch.zeros(V).index_fill_(0, torch.tensor([EOS]), -50.0)
    model, b = tiny(10, bias=never_eos), batch(6, seed=10)
    limits = max_lengths(b.src_mask, 1.0, 2).tolist()
    for hyps, limit in zip(decode(model, b.src, b.src_mask, settings), limits, strict=True):
        assert all(len(h.tokens) == limit for h in hyps)
        assert all(h.log_prob < -40 for h in hyps)  # the forced EOS is scored


@pytest.mark.parametrize("settings", STRATEGIES, ids=lambda s: s.strategy)
def test_empty_source_gives_one_empty_hypothesis(settings):
    """A blank line (EOS alone) decodes to "", even for a model that would write on: outputs stay line for line."""
    never_eos = torch.zeros(V).index_fill_(0, torch.tensor([EOS]), -50.0)
    model = tiny(13, bias=never_eos)
    with_blank = Batch.from_ids([[5, 6], [], [7, 8, 9]], None, range(3), PAD, BOS, EOS)
    without = Batch.from_ids([[5, 6], [7, 8, 9]], None, range(2), PAD, BOS, EOS)
    out = decode(model, with_blank.src, with_blank.src_mask, settings)
    assert len(out) == 3 and [h.tokens for h in out[1]] == [[]] and out[1][0].score == 0.0
    assert all(tokens(out[0])) and all(tokens(out[2]))
    if settings.strategy != "sample":  # a sampler's random stream depends on the rows in the batch
        others = decode(model, without.src, without.src_mask, settings)
        assert [tokens(out[0]), tokens(out[2])] == [tokens(h) for h in others]


@pytest.mark.parametrize("settings", STRATEGIES, ids=lambda s: s.strategy)
def test_hypotheses_never_hold_special_ids(settings):
    specials = torch.zeros(V).index_fill_(0, torch.tensor([PAD, BOS]), 20.0)  # the model loves PAD and BOS
    model, b = tiny(11, bias=specials), batch(6, seed=11)
    for hyps in decode(model, b.src, b.src_mask, settings):
        assert hyps and all(not {PAD, BOS, EOS} & set(h.tokens) for h in hyps)


@pytest.mark.parametrize("make", MODELS)
@pytest.mark.parametrize("settings", STRATEGIES, ids=lambda s: s.strategy)
def test_attention_shapes_rows_and_history(make, settings):
    model, b = make(12), batch(5, seed=12)
    out = decode(model, b.src, b.src_mask, settings, need_weights=True)
    for i, hyps in enumerate(out):
        n = int(b.src_mask[i].sum())
        for h in hyps:
            attention = h.attention
            assert attention is not None and attention.shape[2:] == (len(h.tokens) + 1, n)
            assert torch.allclose(attention.sum(-1), torch.ones(()), atol=1e-5)
            # The collected (and, for beams, reordered) history is the hypothesis' own attention.
            assert torch.allclose(attention, teacher_forced(model, b, i, h)[1], atol=1e-4)
    assert all(h.attention is None for hyps in decode(model, b.src, b.src_mask, settings) for h in hyps)


# ---- settings and config files --------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        dict(strategy="nucleus"),
        dict(beam_size=0),
        dict(beam_size=2, n_best=3),
        dict(temperature=0.0),
        dict(top_k=-1),
        dict(max_len_a=-1.0),
        dict(stopping="early"),
        dict(precision="fp16"),
    ],
)
def test_bad_settings_are_rejected(bad):
    with pytest.raises(ValueError, match="decode"):
        DecodeSettings(**bad)


@pytest.mark.parametrize("name", ["greedy", "beam", "sample"])
def test_config_files_build_settings(name):
    settings = DecodeSettings(**OmegaConf.load(CONF / f"{name}.yaml"))
    assert settings.strategy == name and settings.max_len_a == 1.5 and settings.max_len_b == 10
    assert settings.n_best == 1
    if name == "beam":
        assert (settings.beam_size, settings.length_penalty, settings.stopping) == (5, 0.6, "exact")
    if name == "sample":
        assert (settings.temperature, settings.top_k, settings.seed) == (1.0, 0, 0)
