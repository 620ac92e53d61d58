"""The embedded default corpus ``data=toy``: English-German pairs from a small grammar, with gold alignments.

Generated offline and deterministically from a seed (``random.Random(seed)``), in well under a second
for 20k pairs. Each English sentence has exactly one German translation and the other way round, so
a small model can learn the corpus almost perfectly; what it must learn is real German grammar:

* articles and adjective endings by gender, number and case ("der alte Mann", "einen alten Mann",
  "mit den alten Männern", "alte Männer"), weak nouns ("den Jungen"), dative plural -n;
* dative verbs ("hilft dem Kind") and double objects ("gibt der Frau das Buch");
* verb-second after a fronted adverb or clause ("gestern sah der Mann den Hund .",
  "weil der Hund schläft , liest ...") and verb-first questions ("sieht der Mann den Hund ?");
* verb-final subordinate and relative clauses ("... , weil der Mann den Hund sieht .",
  "... , der den Hund gesehen hat .");
* the perfect with the participle at the end, with "haben" or "sein" ("ist in die Stadt gegangen");
* prepositions with their case ("mit dem Hund", "für den Hund", "im Haus" vs "ins Haus"),
  including the contractions im, ins, zum, zur, vom; "nicht" in its place.

Conventions. Words are whitespace tokens; punctuation is its own token ("the man sees the dog .").
Everything is lowercase except German nouns and English "I". Alignments are Pharaoh "i-j" pairs
(0-based source word - target word, sorted). Every word on both sides is aligned: German words
without an English counterpart attach to the English word that causes them (the comma of ", weil" and
", der" aligns to "because"/"who"); English words without a German one attach to the German word
that carries their meaning ("does ... see" both align to "sieht", "in the" to "im", "in front of"
to "vor"). Splits are disjoint on both sides: no English or German sentence appears twice in the
corpus. Test is drawn first, then val, then train, so test and val stay put when n_train changes.

The grammar itself is nmt.corpora.toy_grammar; the words and their inflection, nmt.corpora.toy_lexicon
(tables in nmt.corpora.toy_words).
"""

from __future__ import annotations

import random
from pathlib import Path

from nmt.corpora.base import CorpusError, ParallelCorpus, ParallelSplit
from nmt.corpora.toy_grammar import sentence

SUPPORTED_PAIRS = (("en", "de"), ("de", "en"))
MIN_LEN, MAX_LEN = 4, 25  # words per sentence, both sides (punctuation included)
_LINK = [[f"{i}-{j}" for j in range(MAX_LEN)] for i in range(MAX_LEN)]  # Pharaoh pairs, formatted once


def _draw(rng: random.Random, n: int) -> list[tuple[str, str, list[tuple[int, int]]]]:
    """``n`` pairs (English, German, alignment), no sentence repeated on either side."""
    seen_en: set[str] = set()
    seen_de: set[str] = set()
    pairs = []
    for _ in range(50 * n + 1000):
        if len(pairs) == n:
            return pairs
        en, de = sentence(rng)
        if not (MIN_LEN <= len(en) <= MAX_LEN and MIN_LEN <= len(de) <= MAX_LEN):
            continue
        src, tgt = " ".join(t[0] for t in en), " ".join(w for w, _ in de)
        if src in seen_en or tgt in seen_de:
            continue
        seen_en.add(src)
        seen_de.add(tgt)
        index = {tok: i for i, tok in enumerate(en)}
        pairs.append((src, tgt, sorted([(index[tok], j) for j, (_, toks) in enumerate(de) for tok in toks])))
    if len(pairs) == n:
        return pairs
    raise CorpusError(f"toy corpus: could not draw {n} distinct sentence pairs; ask for fewer (data.corpus.n_train)")


def load_toy(
    src_lang: str = "en", tgt_lang: str = "de", seed: int = 0, n_train: int = 20000, n_val: int = 500, n_test: int = 500
) -> ParallelCorpus:
    """Generate the toy English-German corpus (see the module docstring for the grammar and conventions).

    Args:
        src_lang: "en" or "de".
        tgt_lang: "de" or "en"; the pair must be en-de or de-en.
        seed: same seed, same corpus; another seed, another corpus.
        n_train: number of training pairs.
        n_val: number of validation pairs.
        n_test: number of test pairs.

    Returns:
        A ParallelCorpus named "toy" with splits "train", "val" and "test", each with Pharaoh gold
        alignments (source word - target word, so flipped for de-en).

    Raises:
        CorpusError: for an unsupported language pair or a negative split size.
    """
    if (src_lang, tgt_lang) not in SUPPORTED_PAIRS:
        supported = ", ".join("-".join(p) for p in SUPPORTED_PAIRS)
        raise CorpusError(
            f"toy corpus: unsupported language pair {src_lang}-{tgt_lang}; supported pairs are {supported} "
            "(set data.src_lang and data.tgt_lang)"
        )
    sizes = {"test": n_test, "val": n_val, "train": n_train}
    for name, n in sizes.items():
        if not isinstance(n, int) or n < 0:
            raise CorpusError(f"toy corpus: n_{name}={n!r} must be a non-negative integer (set data.corpus.n_{name})")
    pairs = _draw(random.Random(seed), sum(sizes.values()))
    flip = src_lang == "de"
    splits, start = {}, 0
    for name, n in sizes.items():  # test first: test and val do not move when n_train changes
        part = pairs[start : start + n]
        start += n
        src = [de if flip else en for en, de, _ in part]
        tgt = [en if flip else de for en, de, _ in part]
        links = [sorted([(j, i) for i, j in a]) if flip else a for _, _, a in part]
        splits[name] = ParallelSplit(name, src, tgt, [" ".join([_LINK[i][j] for i, j in a]) for a in links])
    return ParallelCorpus("toy", src_lang, tgt_lang, {k: splits[k] for k in ("train", "val", "test")})


def write_toy(corpus: ParallelCorpus, out_dir: str | Path) -> list[Path]:
    """Write each split as ``{split}.{src_lang}``, ``{split}.{tgt_lang}`` and ``{split}.align``, one line a pair.

    The files can be read back with ``data=custom`` (``align`` names the Pharaoh file).

    Returns:
        The paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, split in corpus.splits.items():
        columns = {corpus.src_lang: split.src, corpus.tgt_lang: split.tgt, "align": split.alignments or []}
        for suffix, lines in columns.items():
            path = out / f"{name}.{suffix}"
            path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            written.append(path)
    return written
