"""Pieces to words, Pharaoh links, hard alignments, AER, entropy and the analysis table."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import sentencepiece as spm
import torch

from nmt.align import (
    AlignedSentence,
    aer,
    aer_counts,
    analyse_attention,
    attention_entropy,
    corpus_aer,
    format_pharaoh,
    hard_alignment,
    merge_to_words,
    parse_pharaoh,
    table_json,
    table_markdown,
    word_groups,
    word_strings,
)
from nmt.corpora.base import CorpusError

# ------------------------------------------------------------------ pieces -> words


def test_word_groups_on_real_pieces() -> None:
    pieces = ["▁The", "▁man", "▁ride", "s", "▁a", "▁bik", "e", "."]  # "The man rides a bike."
    assert word_groups(pieces) == [[0], [1], [2, 3], [4], [5, 6, 7]]
    assert word_strings(pieces) == ["The", "man", "rides", "a", "bike."]


def test_word_groups_bare_space_piece_opens_a_punctuation_word() -> None:
    # SentencePiece writes "dog , running" as "▁dog", "▁", ",", "▁running"
    pieces = ["▁A", "▁dog", "▁", ",", "▁running", "▁", "!"]
    assert word_groups(pieces) == [[0], [1], [2, 3], [4], [5, 6]]
    assert word_strings(pieces) == ["A", "dog", ",", "running", "!"]


def test_word_groups_eos_left_out_or_alone_and_first_piece_opens_a_word() -> None:
    assert word_groups(["▁a", "b", "</s>"]) == [[0, 1]]
    assert word_groups(["▁a", "b", "</s>"], keep_eos=True) == [[0, 1], [2]]
    assert word_groups(["ab", "c", "▁d"]) == [[0, 1], [2]]
    assert word_groups(["</s>", "x"]) == [[1]]  # a piece after EOS does not join a word across it


def test_word_groups_match_whitespace_words_of_a_trained_sentencepiece_model(tmp_path) -> None:
    rng = random.Random(0)
    vocab = ["the", "man", "rides", "a", "bike", "dog", "runs", "(", ")", ",", "!", "red", "hat.", "well-known", "42"]
    lines = [" ".join(rng.choice(vocab) for _ in range(rng.randint(3, 9))) for _ in range(300)]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    prefix = str(tmp_path / "sp")
    spm.SentencePieceTrainer.train(
        input=str(tmp_path / "train.txt"), model_prefix=prefix, vocab_size=60, hard_vocab_limit=False, minloglevel=2
    )
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    for line in lines[:50]:
        pieces = sp.encode(line, out_type=str)
        assert word_strings(pieces) == line.split()


def test_merge_sums_source_pieces_and_averages_target_pieces() -> None:
    attn = np.array(
        [
            [0.5, 0.25, 0.25],
            [0.1, 0.3, 0.6],
        ]
    )  # target pieces 0,1 form one word; source pieces 1,2 form one word
    merged = merge_to_words(attn, src_groups=[[0], [1, 2]], tgt_groups=[[0, 1]])
    np.testing.assert_allclose(merged, [[0.3, 0.7]])  # mean of (0.5, 0.1) and of (0.5, 0.9)
    assert merge_to_words(attn, [[0], [1, 2]], []).shape == (0, 2)  # an empty hypothesis has no word rows


def test_merged_rows_still_sum_to_one() -> None:
    src = ["▁The", "▁man", "▁ride", "s", "▁a", "▁bik", "e", "."]
    tgt = ["▁Der", "▁Mann", "▁fähr", "t", "▁ein", "▁Fahr", "rad", "."]
    attn = torch.softmax(torch.randn(len(tgt), len(src), generator=torch.Generator().manual_seed(0)), dim=-1)
    torch.testing.assert_close(attn.sum(-1), torch.ones(len(tgt)))  # piece rows are distributions
    merged = merge_to_words(attn, word_groups(src), word_groups(tgt))
    assert merged.shape == (5, 5)  # Der Mann fährt ein Fahrrad. / The man rides a bike.
    np.testing.assert_allclose(merged.sum(axis=1), 1.0, rtol=1e-6)  # float32 softmax rows: sums off by ~1 ulp


# ------------------------------------------------------------------ Pharaoh


def test_parse_pharaoh_sure_and_possible() -> None:
    sure, possible = parse_pharaoh("0-0 1?2  2-1\n")
    assert sure == {(0, 0), (2, 1)}
    assert possible == {(0, 0), (1, 2), (2, 1)}  # P ⊇ S
    assert parse_pharaoh("") == (set(), set())


@pytest.mark.parametrize("token", ["0-", "a-1", "1:2", "-1-2", "1-2-3"])
def test_parse_pharaoh_rejects_bad_links_naming_the_place(token: str) -> None:
    with pytest.raises(CorpusError, match=r"train\.align:3.*'i-j'"):
        parse_pharaoh(f"0-0 {token}", where="train.align:3")


def test_format_pharaoh_round_trips() -> None:
    line = "0-0 1?2 2-1 10-3"
    sure, possible = parse_pharaoh(line)
    assert format_pharaoh(sure, possible) == line
    assert format_pharaoh({(2, 1), (0, 0)}) == "0-0 2-1"


# ------------------------------------------------------------------ hard alignment and AER


def test_hard_alignment_of_a_diagonal_is_the_diagonal() -> None:
    diag = np.eye(4) * 0.7 + 0.1  # rows sum to 1, peak on the diagonal
    for method in ("argmax", "src_argmax", "intersection"):
        assert hard_alignment(diag, method) == {(k, k) for k in range(4)}


def test_hard_alignment_directions() -> None:
    attn = np.array(
        [
            [0.8, 0.2],  # target 0 -> source 0
            [0.6, 0.4],  # target 1 -> source 0
            [0.1, 0.9],  # target 2 -> source 1
        ]
    )
    assert hard_alignment(attn, "argmax") == {(0, 0), (0, 1), (1, 2)}
    assert hard_alignment(attn, "src_argmax") == {(0, 0), (1, 2)}
    assert hard_alignment(attn, "intersection") == {(0, 0), (1, 2)}
    with pytest.raises(ValueError, match="unknown alignment method"):
        hard_alignment(attn, "diagonal")  # type: ignore[arg-type]


def test_aer_of_gold_against_itself_is_zero() -> None:
    sure, possible = parse_pharaoh("0-0 1-2 2-1 3?3")
    assert aer(sure, sure, possible) == 0.0
    assert aer(sure, sure) == 0.0


def test_aer_hand_worked() -> None:
    # S = {0-0, 1-1, 2-2}, P = S ∪ {1-2}, A = {0-0, 1-2, 2-1}
    # |A∩S| = 1 (0-0), |A∩P| = 2 (0-0, 1-2), |A| = 3, |S| = 3 -> AER = 1 - (1 + 2) / (3 + 3) = 0.5
    sure = {(0, 0), (1, 1), (2, 2)}
    assert aer({(0, 0), (1, 2), (2, 1)}, sure, sure | {(1, 2)}) == pytest.approx(0.5)
    # sure only, A = {0-0, 1-1}: 1 - (2 + 2) / (2 + 3) = 0.2
    assert aer({(0, 0), (1, 1)}, sure) == pytest.approx(0.2)
    assert aer(set(), set()) == 0.0


def test_corpus_aer_sums_counts_instead_of_averaging() -> None:
    # sentence 1: A = S = {0-0}                      -> counts (1, 1, 1, 1), AER 0
    # sentence 2: A = {0-1, 1-0, 2-2}, S = diagonal  -> counts (1, 1, 3, 3), AER 1 - 2/6 = 2/3
    # corpus: 1 - (2 + 2) / (4 + 4) = 0.5, while the mean of sentence AERs is 1/3
    predicted = [{(0, 0)}, {(0, 1), (1, 0), (2, 2)}]
    sure = [{(0, 0)}, {(0, 0), (1, 1), (2, 2)}]
    assert aer_counts(predicted[1], sure[1]).aer == pytest.approx(2 / 3)
    assert corpus_aer(predicted, sure) == pytest.approx(0.5)
    assert corpus_aer(predicted, sure, [None, None]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="one predicted"):
        corpus_aer(predicted, sure[:1])


# ------------------------------------------------------------------ entropy


def test_entropy_uniform_is_log_s_and_one_hot_is_zero() -> None:
    S = 7
    assert attention_entropy(np.full((3, S), 1 / S)) == pytest.approx(math.log(S))
    assert attention_entropy(np.full((3, S), 1 / S), normalise=True) == pytest.approx(1.0)
    assert attention_entropy(torch.eye(S)) == pytest.approx(0.0)
    assert attention_entropy(torch.eye(S), normalise=True) == pytest.approx(0.0)
    mixed = np.stack([np.full(S, 1 / S), np.eye(S)[0]])  # mean of log S and 0
    assert attention_entropy(mixed[None, None]) == pytest.approx(math.log(S) / 2)  # any leading axes


# ------------------------------------------------------------------ analysis table

SRC = ["▁a", "▁b", "c", "▁d", "</s>"]  # words: a, bc, d (+ EOS column)
TGT = ["▁x", "y", "▁z", "▁w"]  # words: xy, z, w (+ the EOS step row)


def _piece_attention(word_links: dict[int, int], eos_mass: float) -> np.ndarray:
    """(T, S) piece attention for SRC/TGT where target word j looks at source word word_links[j]."""
    src_groups, tgt_groups = word_groups(SRC), word_groups(TGT)
    attn = np.full((len(TGT) + 1, len(SRC)), 0.02)
    for j, group in enumerate(tgt_groups):
        for t in group:
            attn[t, src_groups[word_links[j]][0]] = 1.0
            attn[t, -1] = eos_mass  # a heavy EOS column must not change the words' ranking
    return attn / attn.sum(axis=1, keepdims=True)


def _sentences(n: int = 2) -> list[AlignedSentence]:
    diagonal = _piece_attention({0: 0, 1: 1, 2: 2}, eos_mass=3.0)
    reversed_ = _piece_attention({0: 2, 1: 1, 2: 0}, eos_mass=0.0)
    heads = np.stack([diagonal, reversed_])  # (h=2, T, S)
    attention = np.stack([heads, heads[::-1]])  # (L=2, h=2, T, S): layer 2 swaps the heads
    return [AlignedSentence(attention, SRC, TGT, "0-0 1-1 2-2") for _ in range(n)]


def test_analysis_scores_each_head_and_the_head_average() -> None:
    rows = analyse_attention(_sentences(), model="transformer")
    assert [(r["layer"], r["head"]) for r in rows] == [(1, 1), (1, 2), (1, "avg"), (2, 1), (2, 2), (2, "avg")]
    by_key = {(r["layer"], r["head"]): r for r in rows}
    assert by_key[(1, 1)]["aer"] == 0.0 and by_key[(2, 2)]["aer"] == 0.0
    # reversed head: only the middle word is right: 1 - (1 + 1) / (3 + 3)
    assert by_key[(1, 2)]["aer"] == pytest.approx(2 / 3)
    assert all(r["model"] == "transformer" and r["entropy"] >= 0 for r in rows)
    json.dumps(rows)  # JSON-ready: plain ints, floats and strings


def test_analysis_accepts_tensors_and_pieces_without_eos_and_has_no_avg_for_one_head() -> None:
    attention = torch.tensor(_sentences(1)[0].attention[:1, :1])  # (1, 1, T, S), like the RNN
    rows = analyse_attention([AlignedSentence(attention, SRC[:-1], TGT + ["</s>"], "0-0 1-1 2-2")], model="rnn")
    assert len(rows) == 1
    assert {k: rows[0][k] for k in ("model", "layer", "head", "aer")} == {
        "model": "rnn",
        "layer": 1,
        "head": 1,
        "aer": 0.0,
    }
    assert 0.0 < rows[0]["entropy"] < math.log(3)  # peaked, but not one-hot


def test_analysis_drops_the_eos_column_and_renormalises_rows() -> None:
    src, tgt = ["▁a", "▁b", "▁c", "</s>"], ["▁x", "▁y"]
    attn = np.array([[1 / 6, 1 / 6, 1 / 6, 0.5]] * 3)  # (T=3, S=4): half the mass on the source EOS
    rows = analyse_attention([AlignedSentence(attn[None, None], src, tgt, "0-0 1-1")], model="m")
    assert rows[0]["entropy"] == pytest.approx(math.log(3))  # uniform over the 3 real source words


def test_analysis_rejects_mismatched_shapes_and_out_of_range_gold() -> None:
    good = _sentences(1)[0]
    with pytest.raises(ValueError, match="expected pieces"):
        analyse_attention([AlignedSentence(good.attention, SRC + ["▁e", "▁f"], TGT, "0-0")], model="m")
    with pytest.raises(ValueError, match="outside 3 source x 3 target words"):
        analyse_attention([AlignedSentence(good.attention, SRC, TGT, "0-0 5-1")], model="m")
    with pytest.raises(ValueError, match=r"\(L, h, T, S\)"):
        analyse_attention([AlignedSentence(good.attention[0], SRC, TGT, "0-0")], model="m")


def test_table_is_sorted_and_marks_one_best_row() -> None:
    rows = analyse_attention(_sentences(), model="transformer") + [
        {"model": "rnn", "layer": 1, "head": 1, "aer": 0.4, "entropy": 1.0}
    ]
    text = table_markdown(rows)
    body = text.strip().splitlines()[2:]
    assert len(body) == len(rows)
    aers = [float(line.split("|")[4]) for line in body]
    assert aers == sorted(aers)
    best = [line for line in body if "best" in line.split("|")[6]]
    assert len(best) == 1 and "| transformer |" in best[0] and float(best[0].split("|")[4]) == 0.0
    assert [line for line in body if "lowest of rnn" in line] == [line for line in body if "| rnn |" in line]
    payload = table_json(rows)
    assert payload["best"]["model"] == "transformer" and payload["best"]["aer"] == 0.0
    assert payload["best_per_model"]["rnn"]["aer"] == 0.4 and payload["best_per_model"]["transformer"]["aer"] == 0.0
    assert json.loads(json.dumps(payload))["rows"][0]["aer"] == 0.0
