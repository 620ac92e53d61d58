"""Words and inflection for the toy English-German corpus (the grammar lives in nmt.corpora.toy_grammar).

The word tables are plain text in nmt.corpora.toy_words, parsed here once at import into typed
entries. German inflection covers what the grammar needs: articles and adjective endings by gender,
number and case (nominative, accusative, dative), weak masculine nouns ("den Jungen"), dative
plural -n, and verbs in present, simple past and perfect, with "haben" or "sein" as auxiliary.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

from nmt.corpora.toy_words import ADJECTIVE_TABLE, ADVERB_TABLE, NOUN_TABLE, PREPOSITION_TABLE, VERB_TABLES

CASES = {"nom": 0, "acc": 1, "dat": 2}

# Tags shorthand used in the tables of nmt.corpora.toy_words.
_EXPAND = {"animate": ("person", "animal"), "any": ("person", "animal", "object", "place")}


class Noun(NamedTuple):
    en: str
    en_pl: str
    de: str
    de_pl: str
    gender: str  # "m" | "f" | "n"
    weak: bool  # weak masculine: plural form outside the nominative singular (der Junge, den Jungen)
    tags: frozenset[str]

    def de_form(self, plural: bool, case: str) -> str:
        """German form in a case; dative plural adds -n unless the plural ends in -n or -s."""
        if plural:
            if case == "dat" and not self.de_pl.endswith(("n", "s")):
                return self.de_pl + "n"
            return self.de_pl
        if self.weak and case != "nom":
            return self.de_pl
        return self.de


class Adjective(NamedTuple):
    en: str
    de: str  # predicative form: "der Hund ist dunkel"
    stem: str  # attributive stem: "der dunkle Hund", "der müde Hund"
    describes: str  # letters: p = people, a = animals, o = objects and places


class Verb(NamedTuple):
    frame: str  # "tr" | "dat" | "ditr" | "intr" | "motion" | "clause"
    en: tuple[str, str, str, str]  # base, 3rd singular, past, participle
    de: tuple[str, str, str, str]  # infinitive, 3rd singular, past, participle
    aux: str  # "h" (haben) | "s" (sein)
    de_1sg: str  # "ich ..." present
    subj: tuple[str, ...]  # noun tags a subject must have one of
    obj: tuple[str, ...]  # tags of the (first) object
    obj2: tuple[str, ...]  # tags of the accusative object of a ditransitive verb
    stative: bool  # no manner adverb ("has a dog quickly")

    def en_finite(self, tense: str, person: int, plural: bool) -> str:
        if tense == "past":
            return self.en[2]
        return self.en[1] if person == 3 and not plural else self.en[0]

    def de_finite(self, tense: str, person: int, plural: bool) -> str:
        if tense == "past":
            past = self.de[2]
            return past + ("n" if past.endswith("e") else "en") if plural else past
        if plural:
            return self.de[0]
        return self.de_1sg if person == 1 else self.de[1]


class Adverb(NamedTuple):
    en: str
    de: str
    kind: str  # "time" | "freq" | "manner"
    tenses: tuple[str, ...]
    frontable: bool  # may open a main clause (German verb-second inversion follows)


class Preposition(NamedTuple):
    en: tuple[str, ...]  # "in front of" is three English words for German "vor"
    de: str
    case: str  # "acc" | "dat"
    use: str  # "loc" (where) | "dir" (where to/from) | "with" | "for"
    tags: tuple[str, ...]  # tags of the nouns it takes


class Pronoun(NamedTuple):
    en: str
    en_obj: str
    de: tuple[str, str, str]  # nominative, accusative, dative ("" = not used)
    person: int
    plural: bool


class Determiner(NamedTuple):
    en: str  # singular English word ("" = none)
    en_pl: str  # plural English word ("" = bare plural, "-" = no plural use)
    de: str  # German stem
    kind: str  # "def" (der), "der" (dieser: der-word), "ein" (ein-word), "bare" (no article)


# Preposition + definite article written as one German word: "in dem Haus" -> "im Haus".
CONTRACTIONS = {
    ("in", "dem"): "im",
    ("in", "das"): "ins",
    ("zu", "dem"): "zum",
    ("zu", "der"): "zur",
    ("von", "dem"): "vom",
}

PRONOUNS = (
    Pronoun("I", "me", ("ich", "mich", "mir"), 1, False),
    Pronoun("he", "him", ("er", "ihn", "ihm"), 3, False),
    Pronoun("she", "her", ("sie", "sie", "ihr"), 3, False),
    Pronoun("we", "us", ("wir", "uns", "uns"), 1, True),
    # No accusative "them": German "sie" would then mean both "her" and "them".
    Pronoun("they", "them", ("sie", "", "ihnen"), 3, True),
)

DETERMINERS = {
    "the": Determiner("the", "the", "", "def"),
    "a": Determiner("a", "-", "ein", "ein"),
    "this": Determiner("this", "these", "dies", "der"),
    "my": Determiner("my", "my", "mein", "ein"),
    "his": Determiner("his", "his", "sein", "ein"),
    "her": Determiner("her", "her", "ihr", "ein"),
    "no": Determiner("no", "no", "kein", "ein"),
    "bare": Determiner("", "", "", "bare"),
}

# Function words, for the lexicon count and for readers: English -> German.
CONJUNCTIONS = {"because": "weil", "although": "obwohl", "if": "wenn", "that": "dass"}
COORDINATORS = {"and": "und", "but": "aber"}
QUESTION_WORDS = {"where": "wo", "why": "warum", "when": "wann"}
DO_FORMS = {"pres3": "does", "pres": "do", "past": "did"}
HAVE = ("have", "has", "had", "had")
# Copula "be"/"sein": (1sg, 3sg, plural) per tense; perfect "ist ... gewesen".
BE_EN = {"pres": ("am", "is", "are"), "past": ("was", "was", "were")}
SEIN = {"pres": ("bin", "ist", "sind"), "past": ("war", "war", "waren")}
HABEN = ("habe", "hat", "haben")  # perfect auxiliary, present

_DEF = {"m": ("der", "den", "dem"), "f": ("die", "die", "der"), "n": ("das", "das", "dem"), "p": ("die", "die", "den")}
_DER_END = {"m": ("er", "en", "em"), "f": ("e", "e", "er"), "n": ("es", "es", "em"), "p": ("e", "e", "en")}
_EIN_END = {"m": ("", "en", "em"), "f": ("e", "e", "er"), "n": ("", "", "em"), "p": ("e", "e", "en")}
# Adjective endings: weak after der-words, mixed after ein-words, strong without an article.
_ADJ_END = {
    "def": {"m": ("e", "en", "en"), "f": ("e", "e", "en"), "n": ("e", "e", "en"), "p": ("en", "en", "en")},
    "ein": {"m": ("er", "en", "en"), "f": ("e", "e", "en"), "n": ("es", "es", "en"), "p": ("en", "en", "en")},
    "bare": {"p": ("e", "e", "en")},
}
_ADJ_END["der"] = _ADJ_END["def"]


def de_determiner(det: Determiner, slot: str, case: str) -> str:
    """German determiner for a gender ("m", "f", "n") or plural ("p") slot and a case; "" if none."""
    i = CASES[case]
    if det.kind == "def":
        return _DEF[slot][i]
    if det.kind == "der":
        return det.de + _DER_END[slot][i]
    if det.kind == "ein":
        return det.de + _EIN_END[slot][i]
    return ""


def de_adjective(adj: Adjective, det: Determiner, slot: str, case: str) -> str:
    """Attributive German adjective: "der alte Mann", "ein alter Mann", "alte Männer"."""
    return adj.stem + _ADJ_END[det.kind][slot][CASES[case]]


def relative_pronoun(slot: str) -> str:
    """Nominative German relative pronoun: der, die, das (plural die)."""
    return _DEF[slot][0]


def _tags(spec: str) -> tuple[str, ...]:
    out: list[str] = []
    for tag in spec.split(","):
        out.extend(_EXPAND.get(tag, (tag,)))
    return tuple(out)


def _parse_nouns(text: str) -> tuple[Noun, ...]:
    nouns = []
    for line in text.strip().splitlines():
        en, en_pl, de, de_pl, gender, *tags = line.split()
        nouns.append(Noun(en, en_pl, de, de_pl, gender[0], gender.endswith("*"), frozenset(tags)))
    return tuple(nouns)


def _parse_adjectives(text: str) -> tuple[Adjective, ...]:
    adjectives = []
    for line in text.strip().splitlines():
        en, de, who = line.split()
        base, _, stem = de.partition("/")
        adjectives.append(Adjective(en, base, stem or base.removesuffix("e"), who))
    return tuple(adjectives)


def _parse_verbs(tables: dict[str, str]) -> tuple[Verb, ...]:
    verbs = []
    for frame, text in tables.items():
        for line in text.strip().splitlines():
            en, de, rest = (part.split() for part in line.split("|"))
            first = de[5] if len(de) > 5 else de[0][:-1]  # "ich" form: sehen -> sehe
            keys = dict(item.split("=") for item in rest if "=" in item)
            subj, obj, obj2 = (_tags(keys[k]) if k in keys else () for k in ("s", "o", "o2"))
            verbs.append(Verb(frame, tuple(en), tuple(de[:4]), de[4], first, subj, obj, obj2, "stative" in rest))
    return tuple(verbs)


def _parse_adverbs(text: str) -> tuple[Adverb, ...]:
    rows = (line.split() for line in text.strip().splitlines())
    return tuple(Adverb(en, de, kind, tuple(t.split(",")), front == "front") for en, de, kind, t, front in rows)


def _parse_prepositions(text: str) -> tuple[Preposition, ...]:
    rows = (line.split() for line in text.strip().splitlines())
    return tuple(Preposition(tuple(en.split("_")), de, case, use, _tags(t)) for en, de, case, use, t in rows)


NOUNS = _parse_nouns(NOUN_TABLE)
ADJECTIVES = _parse_adjectives(ADJECTIVE_TABLE)
VERBS = _parse_verbs(VERB_TABLES)
ADVERBS = _parse_adverbs(ADVERB_TABLE)
PREPOSITIONS = _parse_prepositions(PREPOSITION_TABLE)


@cache
def nouns_with(tags: tuple[str, ...]) -> tuple[Noun, ...]:
    """Nouns carrying at least one of ``tags``."""
    return tuple(n for n in NOUNS if not n.tags.isdisjoint(tags))


@cache
def verbs_for(frame: str, subj_tags: frozenset[str]) -> tuple[Verb, ...]:
    """Verbs of a frame whose subject may be a noun with ``subj_tags``."""
    return tuple(v for v in VERBS if v.frame == frame and not subj_tags.isdisjoint(v.subj))


@cache
def adjectives_for(kind: str) -> tuple[Adjective, ...]:
    """Adjectives that may describe a noun of ``kind``: "p" people, "a" animals, "o" objects and places."""
    return tuple(a for a in ADJECTIVES if kind in a.describes)


def lexicon_size() -> int:
    """Number of distinct English-German lexical entries (content and function words)."""
    function_words = len(PRONOUNS) + len(DETERMINERS) - 1 + len(CONJUNCTIONS) + len(COORDINATORS) + len(QUESTION_WORDS)
    # + copula, "not", relative "who"/"that"
    return len(NOUNS) + len(ADJECTIVES) + len(VERBS) + len(ADVERBS) + len(PREPOSITIONS) + function_words + 4
