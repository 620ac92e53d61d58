"""The embedded toy corpus: determinism, disjoint splits, valid gold alignments, and German grammar."""

from __future__ import annotations

import re
import time

import pytest

from nmt.corpora import toy_lexicon as lx
from nmt.corpora.base import ParallelCorpus
from nmt.corpora.toy import load_toy, write_toy

PAIR_RE = re.compile(r"^\d+-\d+$")
DET = lx.DETERMINERS
FINITE = {v.de_finite(t, p, pl) for v in lx.VERBS for t in ("pres", "past") for p in (1, 3) for pl in (False, True)}
FINITE |= set(lx.HABEN) | {w for forms in lx.SEIN.values() for w in forms}
DE_PARTICIPLES = {v.de[3] for v in lx.VERBS} | {"gewesen"}
EN_PARTICIPLES = {v.en[3] for v in lx.VERBS} | {"been"}
SEIN_PARTICIPLES = {v.en[3] for v in lx.VERBS if v.aux == "s"} | {"been"}
FRONTABLE = {a.de for a in lx.ADVERBS if a.frontable}
NOUN_SG = {n.en: n for n in lx.NOUNS}


@pytest.fixture(scope="module")
def corpus() -> ParallelCorpus:
    return load_toy()


@pytest.fixture(scope="module")
def pairs(corpus: ParallelCorpus) -> list[tuple[list[str], list[str], set[tuple[int, int]]]]:
    """Every pair of every split as (English words, German words, alignment links)."""
    out = []
    for split in corpus.splits.values():
        for src, tgt, align in zip(split.src, split.tgt, split.alignments, strict=True):
            links = {tuple(map(int, p.split("-"))) for p in align.split()}
            out.append((src.split(), tgt.split(), links))
    return out


def _aligned(links: set[tuple[int, int]], j: int) -> set[int]:
    """English positions aligned to German position j."""
    return {i for i, k in links if k == j}


def test_sizes_names_and_lengths() -> None:
    corpus = load_toy(n_train=300, n_val=40, n_test=30, seed=3)
    assert (corpus.name, corpus.src_lang, corpus.tgt_lang) == ("toy", "en", "de")
    assert {k: len(v) for k, v in corpus.splits.items()} == {"train": 300, "val": 40, "test": 30}
    for split in corpus.splits.values():
        assert split.alignments is not None and len(split.alignments) == len(split)
        for line in split.src + split.tgt:
            assert 4 <= len(line.split()) <= 25
            assert line.split()[-1] in {".", "?"} and line == line.strip()
    assert load_toy(n_train=0, n_val=0, n_test=5).splits["train"].src == []


def test_deterministic_by_seed() -> None:
    a, b, c = load_toy(seed=7, n_train=200), load_toy(seed=7, n_train=200), load_toy(seed=8, n_train=200)
    for name in ("train", "val", "test"):
        assert a.splits[name] == b.splits[name]
        assert a.splits[name].src != c.splits[name].src
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_val_and_test_do_not_move_when_n_train_changes() -> None:
    small, large = load_toy(n_train=10), load_toy(n_train=400)
    assert small.splits["test"] == large.splits["test"] and small.splits["val"] == large.splits["val"]


def test_splits_are_disjoint_on_both_sides(corpus: ParallelCorpus) -> None:
    for side in ("src", "tgt"):
        seen: set[str] = set()
        total = 0
        for split in corpus.splits.values():
            lines = getattr(split, side)
            seen |= set(lines)
            total += len(lines)
        assert len(seen) == total


def test_every_alignment_is_valid_and_covers_every_word(corpus: ParallelCorpus) -> None:
    for split in corpus.splits.values():
        for src, tgt, align in zip(split.src, split.tgt, split.alignments, strict=True):
            items = align.split()
            assert all(PAIR_RE.match(p) for p in items), align
            links = [tuple(map(int, p.split("-"))) for p in items]
            assert links == sorted(set(links)), "sorted, no duplicates"
            n, m = len(src.split()), len(tgt.split())
            assert all(0 <= i < n and 0 <= j < m for i, j in links), (src, tgt, align)
            assert {i for i, _ in links} == set(range(n)), f"unaligned source word in {src!r}"
            assert {j for _, j in links} == set(range(m)), f"unaligned target word in {tgt!r}"


def test_german_to_english_is_the_same_corpus_flipped() -> None:
    en_de, de_en = load_toy("en", "de", n_train=300), load_toy("de", "en", n_train=300)
    assert (de_en.src_lang, de_en.tgt_lang) == ("de", "en")
    for name in ("train", "val", "test"):
        forward, backward = en_de.splits[name], de_en.splits[name]
        assert backward.src == forward.tgt and backward.tgt == forward.src
        for fa, ba in zip(forward.alignments, backward.alignments, strict=True):
            flipped = sorted((int(j), int(i)) for i, j in (p.split("-") for p in fa.split()))
            assert ba == " ".join(f"{i}-{j}" for i, j in flipped)


@pytest.mark.parametrize("src,tgt", [("en", "fr"), ("fr", "de"), ("de", "de"), ("EN", "DE")])
def test_unsupported_language_pair_names_the_supported_ones(src: str, tgt: str) -> None:
    with pytest.raises(ValueError, match="en-de, de-en"):
        load_toy(src, tgt)


def test_negative_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="n_val"):
        load_toy(n_val=-1)


def test_translation_is_a_function_in_both_directions(corpus: ParallelCorpus) -> None:
    """Two seeds share some short sentences: each must get the same translation both ways."""
    second = load_toy(seed=1)
    en_to_de = {s: t for sp in corpus.splits.values() for s, t in zip(sp.src, sp.tgt, strict=True)}
    de_to_en = {t: s for s, t in en_to_de.items()}
    shared_en = shared_de = 0
    for split in second.splits.values():
        for s, t in zip(split.src, split.tgt, strict=True):
            if s in en_to_de:
                shared_en += 1
                assert en_to_de[s] == t
            if t in de_to_en:
                shared_de += 1
                assert de_to_en[t] == s
    assert shared_en > 20 and shared_de > 20


@pytest.mark.parametrize(
    "det,slot,case,article",
    [("the", "m", "acc", "den"), ("the", "f", "dat", "der"), ("the", "p", "dat", "den"), ("a", "m", "acc", "einen")]
    + [
        ("a", "n", "nom", "ein"),
        ("this", "n", "nom", "dieses"),
        ("my", "f", "dat", "meiner"),
        ("no", "p", "nom", "keine"),
    ],
)
def test_articles_hand_checked(det: str, slot: str, case: str, article: str) -> None:
    assert lx.de_determiner(DET[det], slot, case) == article


@pytest.mark.parametrize(
    "adj,det,slot,case,form",
    [("old", "the", "m", "nom", "alte"), ("old", "the", "m", "acc", "alten"), ("old", "a", "m", "nom", "alter")]
    + [("old", "a", "n", "acc", "altes"), ("old", "bare", "p", "nom", "alte"), ("old", "bare", "p", "dat", "alten")]
    + [("tired", "the", "m", "nom", "müde"), ("dark", "a", "m", "nom", "dunkler"), ("old", "my", "p", "acc", "alten")],
)
def test_adjective_endings_hand_checked(adj: str, det: str, slot: str, case: str, form: str) -> None:
    adjective = next(a for a in lx.ADJECTIVES if a.en == adj)
    assert lx.de_adjective(adjective, DET[det], slot, case) == form


def test_noun_and_verb_forms_hand_checked() -> None:
    dog, car, woman, boy = (NOUN_SG[w] for w in ("dog", "car", "woman", "boy"))
    assert [dog.de_form(True, "dat"), car.de_form(True, "dat"), woman.de_form(True, "dat")] == [
        "Hunden",
        "Autos",
        "Frauen",
    ]
    assert [boy.de_form(False, "nom"), boy.de_form(False, "acc"), dog.de_form(False, "dat")] == [
        "Junge",
        "Jungen",
        "Hund",
    ]
    see = next(v for v in lx.VERBS if v.en[0] == "see")
    forms = [see.de_finite("pres", 3, False), see.de_finite("pres", 1, False), see.de_finite("past", 3, True)]
    assert forms == ["sieht", "sehe", "sahen"]
    assert next(v for v in lx.VERBS if v.de[0] == "wissen").de_finite("pres", 1, False) == "weiß"
    assert next(v for v in lx.VERBS if v.en[0] == "go").aux == "s"


def test_simple_intransitive_sentences_translate_word_by_word(pairs) -> None:
    checked = 0
    for en, de, _ in pairs:
        if len(en) == 4 and en[0] == "the" and en[1] in NOUN_SG:
            verbs = [v for v in lx.VERBS if v.frame in ("intr", "motion") and en[2] in (v.en[1], v.en[2])]
            if not verbs:
                continue
            noun, verb = NOUN_SG[en[1]], verbs[0]
            tense = "pres" if en[2] == verb.en[1] else "past"
            expected = [lx.de_determiner(DET["the"], noun.gender, "nom"), noun.de, verb.de_finite(tense, 3, False), "."]
            assert de == expected
            checked += 1
    assert checked >= 20


def test_verb_second_after_a_fronted_adverb(pairs) -> None:
    fronted = [(en, de, links) for en, de, links in pairs if de[0] in FRONTABLE]
    assert len(fronted) > 500
    for _, de, links in fronted:
        assert de[1] in FINITE, de
        assert _aligned(links, 0) == {0}  # the adverb opens both sentences
    exact = 0
    for en, de, _ in fronted:  # "yesterday the farmer visited the kitchen ." in full
        if len(en) == 7 and en[0] == "yesterday" and en[1] == en[4] == "the" and {en[2], en[5]} <= NOUN_SG.keys():
            verb = next(v for v in lx.VERBS if v.frame in ("tr", "dat") and v.en[2] == en[3])
            case = "dat" if verb.frame == "dat" else "acc"
            subj, obj = NOUN_SG[en[2]], NOUN_SG[en[5]]
            the = DET["the"]
            assert de == [
                "gestern",
                verb.de_finite("past", 3, False),
                lx.de_determiner(the, subj.gender, "nom"),
                subj.de,
                lx.de_determiner(the, obj.gender, case),
                obj.de_form(False, case),
                ".",
            ]
            exact += 1
    assert exact >= 1


@pytest.mark.parametrize("conj", ["weil", "dass", "obwohl"])
def test_subordinate_clauses_are_verb_final(pairs, conj: str) -> None:
    trailing = [(en, de) for en, de, _ in pairs if f", {conj}" in " ".join(de)]
    assert len(trailing) > 100
    perfect = 0
    for _, de in trailing:
        assert de[-2] in FINITE, de  # "... , weil der Mann den Hund sieht ."
        perfect += de[-3] in DE_PARTICIPLES and de[-2] in {"hat", "haben", "habe", "ist", "sind", "bin"}
    assert perfect > 10  # "... , weil der Mann den Hund gesehen hat ."
    for _, de, _ in pairs:
        if de[0] == conj:  # "weil der Hund schläft , liest der Mann ..."
            comma = de.index(",")
            assert de[comma - 1] in FINITE and de[comma + 1] in FINITE, de


def test_perfect_puts_the_participle_last_with_haben_or_sein(pairs) -> None:
    with_sein = 0
    for en, de, links in pairs:
        simple = not {",", "and", "but", "that", "who", "because", "although", "if"} & set(en) and en[-1] == "."
        aux = [i for i, w in enumerate(en[:-1]) if w in ("has", "have") and en[i + 1] in EN_PARTICIPLES]
        if not simple or not aux:
            continue
        i = aux[0]
        assert de[-2] in DE_PARTICIPLES and _aligned(links, len(de) - 2) == {i + 1}, (en, de)
        german_aux = de[[j for j in range(len(de)) if _aligned(links, j) == {i}][0]]
        if en[i + 1] in SEIN_PARTICIPLES and en[i + 1] != "followed":  # also the past of "follow"
            assert german_aux in {"ist", "sind", "bin"}, (en, de)
            with_sein += 1
    assert with_sein > 50


def test_do_support_negation_and_contractions_align(pairs) -> None:
    counts = {"does": 0, "not": 0, "im": 0}
    for en, de, links in pairs:
        if en[0] == "does":  # "does the man see ... ?" -> "sieht der Mann ... ?"
            assert 0 in _aligned(links, 0) and len(_aligned(links, 0)) == 2 and de[-1] == "?"
            counts["does"] += 1
        if "not" in en:
            assert (en.index("not"), de.index("nicht")) in links
            counts["not"] += 1
        for j, word in enumerate(de):
            if word == "im":  # "in the garden" -> "im Garten"
                assert [en[i] for i in sorted(_aligned(links, j))] == ["in", "the"]
                counts["im"] += 1
    assert min(counts.values()) > 50, counts


def test_german_nouns_capitalised_everything_else_lowercase(pairs) -> None:
    nouns = {n.de for n in lx.NOUNS} | {n.de_form(True, "dat") for n in lx.NOUNS} | {n.de_pl for n in lx.NOUNS}
    for en, de, _ in pairs[:3000]:
        assert all(w.islower() or w in {"I", ".", "?", ","} for w in en), en
        assert all(w in nouns if w[0].isupper() else (w.islower() or w in ".?,") for w in de), de


def test_lexicon_has_at_least_150_entries() -> None:
    assert lx.lexicon_size() >= 150
    assert {n.gender for n in lx.NOUNS} == {"m", "f", "n"} and len(lx.NOUNS) >= 50


def test_generation_is_fast() -> None:
    start = time.process_time()
    load_toy(n_train=20000, seed=11)
    assert time.process_time() - start < 2.0


def test_write_toy_writes_line_aligned_files(tmp_path) -> None:
    corpus = load_toy("de", "en", n_train=20, n_val=5, n_test=5)
    paths = write_toy(corpus, tmp_path / "toy")
    assert {p.name for p in paths} == {f"{s}.{x}" for s in ("train", "val", "test") for x in ("de", "en", "align")}
    assert (tmp_path / "toy" / "train.de").read_text(encoding="utf-8").splitlines() == corpus.splits["train"].src
    assert (tmp_path / "toy" / "val.align").read_text(encoding="utf-8").splitlines() == corpus.splits["val"].alignments
