"""The grammar of the toy corpus: one English sentence and its German translation, with gold alignments.

What the grammar covers and the corpus conventions are in nmt.corpora.toy; the words and their
inflection are in nmt.corpora.toy_lexicon. Every English word is a unique token (``Tok``) and every
German word carries the English tokens it translates (``De``), so phrases can be reordered freely
in either language and the alignment still falls out at the end. Phrase builders draw from one
``random.Random`` in a fixed order: the same seed gives the same corpus.
"""

from __future__ import annotations

import random
from functools import cache
from itertools import count
from typing import NamedTuple

from nmt.corpora import toy_lexicon as lx

Tok = tuple[str, int]  # an English word and a unique number; German words point at these: the gold alignment
_UID = count()


def _tok(word: str) -> Tok:
    return (word, next(_UID))


De = tuple[str, tuple[Tok, ...]]  # a German word and the English words it aligns to


class Phrase(NamedTuple):
    """English tokens and German words, each in its own order; a German word lists the tokens it aligns to."""

    en: list[Tok]
    de: list[De]


class _NP(NamedTuple):
    en: list[Tok]
    de: list[De]
    pronoun: bool
    person: int
    plural: bool
    slot: str  # German gender "m" | "f" | "n", or "p" for plural
    det: str  # key of lx.DETERMINERS; "" for pronouns
    tags: frozenset[str]


class _VerbGroup(NamedTuple):
    en: list[Tok]  # "sees" | "does not see" | "has seen" | "is not"
    split: int  # a frequency adverb goes before en[split]: "often sees", "has often seen"
    fin: De  # German finite verb
    rest: list[De]  # German participle at the clause end; [] in simple tenses
    neg: list[De]  # ["nicht"] or []


class _Clause(NamedTuple):
    subj: _NP
    verb: _VerbGroup
    frame: str
    objs: list[_NP]  # dative before accusative, in both languages
    adv: tuple[str, Phrase] | None = None  # (kind, words) of an adverb left in the clause
    front: Phrase | None = None  # fronted adverb or adverbial clause: verb-second follows in German
    pp: Phrase | None = None
    pred: Phrase | None = None  # predicative adjective after "be"
    rel: Phrase | None = None  # relative clause on the last object
    tail: Phrase | None = None  # that-clause or trailing adverbial clause


def _words(pairs: list[tuple[str, str]]) -> Phrase:
    """Word-for-word (English, German) pairs in the same order."""
    toks = [_tok(en) for en, _ in pairs]
    return Phrase(toks, [(de, (tok,)) for (_, de), tok in zip(pairs, toks, strict=True)])


def _word(en: str, de: str) -> Phrase:
    return _words([(en, de)])


def _pick(rng: random.Random, options: tuple | list):
    """Uniform choice with one call to ``rng.random()``: several times faster than ``rng.choice``."""
    return options[int(rng.random() * len(options))]


def _weighted(weights: dict[str, int], drop: str = "") -> tuple[str, ...]:
    """Each key repeated by its weight, for ``_pick``."""
    return tuple(k for k, w in weights.items() if k not in drop.split() for _ in range(w))


_DET_SG = {"the": 50, "a": 25, "this": 7, "my": 6, "his": 4, "her": 4, "no": 4}
_DET_PL = {"the": 50, "bare": 22, "this": 8, "my": 7, "his": 4, "her": 4, "no": 5}
# "full": anywhere; "nono": no "kein"; "plain": what "nicht" can negate (no kein, ein, bare plural).
_DROP = {"full": "", "nono": "no", "plain": "no a bare"}
_POOLS = {(name, pl): _weighted(_DET_PL if pl else _DET_SG, drop) for name, drop in _DROP.items() for pl in (0, 1)}
_PRONOUNS = {case: tuple(p for p in lx.PRONOUNS if p.de[i]) for case, i in lx.CASES.items()}
_PREPS = {use: tuple(p for p in lx.PREPOSITIONS if p.use == use) for use in ("loc", "dir", "with", "for")}
_ANY = frozenset(("person", "animal", "object", "place"))
_PERSON = frozenset(("person",))


def _kind(tags: frozenset[str]) -> str:
    """What an adjective may describe: "p" people, "a" animals, "o" objects and places."""
    return "p" if "person" in tags else "a" if "animal" in tags else "o"


def _noun_phrase(rng: random.Random, tags: tuple[str, ...], case: str, pool: str, pronoun_p: float = 0.0) -> _NP:
    if pronoun_p and "person" in tags and rng.random() < pronoun_p:
        pron = _pick(rng, _PRONOUNS[case])
        tok = _tok(pron.en if case == "nom" else pron.en_obj)
        return _NP([tok], [(pron.de[lx.CASES[case]], (tok,))], True, pron.person, pron.plural, "", "", _PERSON)
    noun = _pick(rng, lx.nouns_with(tags))
    plural = rng.random() < 0.3
    key = _pick(rng, _POOLS[pool, plural])
    det, slot = lx.DETERMINERS[key], "p" if plural else noun.gender
    adj = None
    if rng.random() < 0.3:
        adj = _pick(rng, lx.adjectives_for(_kind(noun.tags)))
    en_noun = noun.en_pl if plural else noun.en
    words = [(adj.en, lx.de_adjective(adj, det, slot, case))] if adj else []
    if det.kind != "bare":
        article = det.en_pl if plural else det.en
        if article == "a" and (adj.en if adj else en_noun)[0] in "aeiou":
            article = "an"
        words.insert(0, (article, lx.de_determiner(det, slot, case)))
    phrase = _words(words + [(en_noun, noun.de_form(plural, case))])
    return _NP(phrase.en, phrase.de, False, 3, plural, slot, key, noun.tags)


def _prep_phrase(rng: random.Random, use: str) -> Phrase:
    prep = _pick(rng, _PREPS[use])
    np = _noun_phrase(rng, prep.tags, prep.case, "nono", pronoun_p=0.15 if use in ("with", "for") else 0.0)
    words = [_tok(w) for w in prep.en]
    if np.det == "the":
        short = lx.CONTRACTIONS.get((prep.de, np.de[0][0]))
        if short:  # "in the house" -> "im Haus": one German word for two English ones
            return Phrase(words + np.en, [(short, tuple(words) + np.de[0][1]), *np.de[1:]])
    return Phrase(words + np.en, [(prep.de, tuple(words)), *np.de])


def _verb_group(verb: lx.Verb | None, tense: str, subj: _NP, neg: bool, question: bool) -> _VerbGroup:
    """The verb of a clause in both languages; ``verb`` None is the copula be/sein."""
    agr = 2 if subj.plural else (0 if subj.person == 1 else 1)  # index into (1sg, 3sg, plural) tables
    not_ = [_tok("not")] if neg else []
    nicht = [("nicht", (not_[0],))] if neg else []
    if tense == "perf":
        has, part = _tok(lx.HAVE[1] if agr == 1 else lx.HAVE[0]), _tok(verb.en[3] if verb else "been")
        aux = (lx.SEIN["pres"] if verb is None or verb.aux == "s" else lx.HABEN)[agr]
        rest = [(verb.de[3] if verb else "gewesen", (part,))]
        return _VerbGroup([has, *not_, part], 1, (aux, (has,)), rest, nicht)
    if verb is None:
        be = _tok(lx.BE_EN[tense][agr])
        return _VerbGroup([be, *not_], 1, (lx.SEIN[tense][agr], (be,)), [], nicht)
    de = verb.de_finite(tense, subj.person, subj.plural)
    if neg or question:  # do-support: "does ... see" is the one German word "sieht"
        do = _tok(lx.DO_FORMS["past" if tense == "past" else ("pres3" if agr == 1 else "pres")])
        base = _tok(verb.en[0])
        return _VerbGroup([do, *not_, base], 1, (de, (do, base)), [], nicht)
    tok = _tok(verb.en_finite(tense, subj.person, subj.plural))
    return _VerbGroup([tok], 0, (de, (tok,)), [], [])


def _objects(rng: random.Random, verb: lx.Verb | None, neg: bool) -> list[_NP]:
    pool = "plain" if neg else "full"
    if verb is None or verb.frame in ("intr", "motion", "clause"):
        return []
    if verb.frame == "tr":
        return [_noun_phrase(rng, verb.obj, "acc", pool, pronoun_p=0.12)]
    if verb.frame == "dat":
        return [_noun_phrase(rng, verb.obj, "dat", pool, pronoun_p=0.2)]
    return [_noun_phrase(rng, verb.obj, "dat", pool, pronoun_p=0.25), _noun_phrase(rng, verb.obj2, "acc", pool)]


@cache
def _adverbs(tense: str, kinds: str, never: bool) -> tuple[lx.Adverb, ...]:
    """Candidates for ``_pick``; time adverbs thrice, as they are few and carry verb-second inversion."""
    fits = [a for a in lx.ADVERBS if tense in a.tenses and a.kind in kinds and (never or a.en != "never")]
    return tuple(a for a in fits for _ in range(3 if a.kind == "time" else 1))


_FRAMES = _weighted({"tr": 32, "intr": 18, "motion": 12, "copula": 14, "dat": 10, "ditr": 8})
_TENSES = _weighted({"pres": 4, "past": 3, "perf": 3})
_PP = {"tr": (0.2, ("loc", "with", "for")), "intr": (0.6, ("loc", "loc", "with")), "motion": (0.75, ("dir",))}
_PP |= {"dat": (0.15, ("loc", "with")), "ditr": (0.1, ("loc",)), "clause": (0.0, ())}


def _clause(
    rng: random.Random,
    mode: str,
    subj: _NP | None = None,
    frame: str | None = None,
    tense: str | None = None,
    front_ok: bool = False,
    rel_ok: bool = False,
) -> _Clause:
    """One clause's parts; ``mode`` is "main", "question" or "sub" (subordinate or relative)."""
    frame = frame or _pick(rng, _FRAMES)
    verbs = lx.verbs_for(frame, subj.tags if subj else _ANY) if frame != "copula" else ()
    verb = _pick(rng, verbs) if verbs else None
    frame = verb.frame if verb else "copula"
    tense = tense or _pick(rng, _TENSES)
    neg = mode != "question" and rng.random() < 0.12
    if subj is None:
        subj = _noun_phrase(rng, verb.subj if verb else tuple(_ANY), "nom", "nono" if neg else "full", 0.2)
    objs = _objects(rng, verb, neg)
    has_rel = rel_ok and not neg and objs and not objs[-1].pronoun and rng.random() < 0.25
    verb_group = _verb_group(verb, tense, subj, neg, mode == "question")
    pp = pred = front = adv = rel = None
    if frame == "copula":
        if rng.random() < 0.65:
            adj = _pick(rng, lx.adjectives_for(_kind(subj.tags)))
            pred = _word(adj.en, adj.de)
        else:
            pp = _prep_phrase(rng, "loc")
    elif not has_rel and rng.random() < _PP[frame][0]:
        pp = _prep_phrase(rng, _pick(rng, _PP[frame][1]))
    if has_rel:
        rel = _relative(rng, objs[-1])
    if rng.random() < 0.35:
        manner = frame not in ("copula", "clause") and not verb.stative and not has_rel
        kinds = "time" + (" freq" if not neg else "") + (" manner" if manner else "")
        never = subj.det != "no" and all(o.det != "no" for o in objs)  # no double negation
        adverb = _pick(rng, _adverbs(tense, kinds, never))
        phrase = _word(adverb.en, adverb.de)
        if mode == "main" and front_ok and adverb.frontable and (has_rel or rng.random() < 0.6):
            front = phrase
        elif not (has_rel and adverb.kind == "time"):  # "saw the man who slept yesterday" is ambiguous
            adv = (adverb.kind, phrase)
    return _Clause(subj, verb_group, frame, objs, adv, front, pp, pred, rel)


def _relative(rng: random.Random, head: _NP) -> Phrase:
    """Subject relative clause: "who sees the dog" / ", der den Hund sieht"."""
    who = _tok("who" if "person" in head.tags else "that")
    pron = [(",", (who,)), (lx.relative_pronoun(head.slot), (who,))]
    subj = _NP([who], pron, False, 3, head.plural, head.slot, "", head.tags)
    clause = _clause(rng, "sub", subj=subj)
    return Phrase(_en_clause(clause, False), _de_clause(clause, "sub"))


def _en_clause(c: _Clause, question: bool) -> list[Tok]:
    """English order: subject - verb - objects; do-support and inversion in questions."""
    out = list(c.front.en) if c.front else []
    kind, adv = c.adv or ("", None)
    head, tail = c.verb.en[: c.verb.split], c.verb.en[c.verb.split :]
    out += head + c.subj.en if question else c.subj.en + head
    if kind == "freq":
        out += adv.en
    out += tail
    for obj in c.objs:
        out += obj.en
    for part in (c.rel, c.pred, adv if kind == "manner" else None, c.pp, adv if kind == "time" else None, c.tail):
        if part is not None:
            out += part.en
    return out


def _de_clause(c: _Clause, mode: str) -> list[De]:
    """German order: verb second ("main"), first ("question") or last ("sub"); the rest in the middle field."""
    kind, adv = c.adv or ("", None)
    middle = c.subj.de if (mode != "main" or c.front) else []
    middle = middle + [w for o in c.objs if o.pronoun for w in o.de]  # pronouns before adverbs
    if kind in ("time", "freq"):
        middle += adv.de
    middle += [w for o in c.objs if not o.pronoun for w in o.de]
    middle += c.verb.neg  # "nicht" after the noun objects, before manner, place and predicate
    for part in (adv if kind == "manner" else None, c.pp, c.pred):
        if part is not None:
            middle += part.de
    if mode == "sub":
        out = middle + c.verb.rest + [c.verb.fin]
    elif mode == "question":
        out = [c.verb.fin] + middle + c.verb.rest
    else:
        out = (c.front.de if c.front else c.subj.de) + [c.verb.fin] + middle + c.verb.rest
    for part in (c.rel, c.tail):
        if part is not None:
            out += part.de
    return out


def _subordinate(rng: random.Random, conj: str, tense: str | None = None, comma: bool = True) -> Phrase:
    """ "because the man sees the dog" / ", weil der Mann den Hund sieht" (no comma when fronted)."""
    clause = _clause(rng, "sub", tense=tense)
    tok = _tok(conj)
    lead = [(",", (tok,))] if comma else []
    return Phrase(
        [tok] + _en_clause(clause, False), lead + [(lx.CONJUNCTIONS[conj], (tok,))] + _de_clause(clause, "sub")
    )


def _main(clause: _Clause) -> Phrase:
    return Phrase(_en_clause(clause, False), _de_clause(clause, "main"))


def _question(rng: random.Random) -> Phrase:
    clause = _clause(rng, "question")
    en, de = _en_clause(clause, True), _de_clause(clause, "question")
    if clause.pp is None and clause.adv is None and rng.random() < 0.35:
        options = ["why"] + ["when"] * (not clause.verb.rest)  # not "when has ...?"
        options += ["where"] * (clause.frame not in ("motion", "copula"))  # "where ... go" wants "wohin"
        wh = _pick(rng, options)
        word = _word(wh, lx.QUESTION_WORDS[wh])
        en, de = word.en + en, word.de + de
    return Phrase(en, de)


def _adverbial(rng: random.Random) -> Phrase:
    conj = _pick(rng, ("because", "because", "although", "if"))
    tense = "pres" if conj == "if" else None
    if rng.random() < 0.6:  # "... , weil ..."
        return _main(_clause(rng, "main", tense=tense, front_ok=True)._replace(tail=_subordinate(rng, conj, tense)))
    sub, comma = _subordinate(rng, conj, tense, comma=False), _tok(",")
    front = Phrase(sub.en + [comma], sub.de + [(",", (comma,))])  # "weil ... , sieht der Mann ..."
    return _main(_clause(rng, "main", tense=tense)._replace(front=front))


def _coordinated(rng: random.Random) -> Phrase:
    first, second = _main(_clause(rng, "main", front_ok=True)), _main(_clause(rng, "main"))
    if rng.random() < 0.6:
        mid = _word("and", "und")
    else:
        comma, but = _tok(","), _tok("but")
        mid = Phrase([comma, but], [(",", (comma,)), ("aber", (but,))])
    return Phrase(first.en + mid.en + second.en, first.de + mid.de + second.de)


def sentence(rng: random.Random) -> Phrase:
    """One sentence pair of any kind, with its final "." or "?"; the only entry point of the grammar."""
    r = rng.random()
    if r < 0.42:
        body, mark = _main(_clause(rng, "main", front_ok=True, rel_ok=True)), "."
    elif r < 0.54:
        body, mark = _question(rng), "?"
    elif r < 0.72:
        body, mark = _adverbial(rng), "."
    elif r < 0.86:
        clause = _clause(rng, "main", frame="clause", front_ok=True)
        body, mark = _main(clause._replace(tail=_subordinate(rng, "that"))), "."
    else:
        body, mark = _coordinated(rng), "."
    end = _word(mark, mark)
    return Phrase(body.en + end.en, body.de + end.de)
