"""Words and inflection for the toy English-German corpus (the grammar lives in nmt.corpora.toy).

Every table is plain text, one entry a line, parsed once at import. German inflection covers what
the grammar needs: articles and adjective endings by gender, number and case (nominative,
accusative, dative), weak masculine nouns ("den Jungen"), dative plural -n, and verbs in present,
simple past and perfect, with "haben" or "sein" as auxiliary.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

CASES = {"nom": 0, "acc": 1, "dat": 2}

# Tags shorthand used in the tables below.
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


_NOUNS = """
man men Mann Männer m person
woman women Frau Frauen f person
child children Kind Kinder n person
boy boys Junge Jungen m* person
girl girls Mädchen Mädchen n person
teacher teachers Lehrer Lehrer m person
doctor doctors Arzt Ärzte m person
student students Student Studenten m* person
neighbour neighbours Nachbar Nachbarn m* person
friend friends Freund Freunde m person
mother mothers Mutter Mütter f person
father fathers Vater Väter m person
sister sisters Schwester Schwestern f person
brother brothers Bruder Brüder m person
king kings König Könige m person
farmer farmers Bauer Bauern m* person
cook cooks Koch Köche m person
baby babies Baby Babys n person
dog dogs Hund Hunde m animal
cat cats Katze Katzen f animal
horse horses Pferd Pferde n animal
bird birds Vogel Vögel m animal
mouse mice Maus Mäuse f animal
cow cows Kuh Kühe f animal
bear bears Bär Bären m* animal
rabbit rabbits Hase Hasen m* animal
pig pigs Schwein Schweine n animal
duck ducks Ente Enten f animal
book books Buch Bücher n object text open
letter letters Brief Briefe m object text open
newspaper newspapers Zeitung Zeitungen f object text
song songs Lied Lieder n text
poem poems Gedicht Gedichte n text
apple apples Apfel Äpfel m object food
egg eggs Ei Eier n object food
cake cakes Kuchen Kuchen m object food
banana bananas Banane Bananen f object food
sausage sausages Wurst Würste f object food
ball balls Ball Bälle m object
key keys Schlüssel Schlüssel m object
hat hats Hut Hüte m object
coat coats Mantel Mäntel m object
bag bags Tasche Taschen f object open
cup cups Tasse Tassen f object
bottle bottles Flasche Flaschen f object open
glass glasses Glas Gläser n object
picture pictures Bild Bilder n object
lamp lamps Lampe Lampen f object
box boxes Kiste Kisten f object open
umbrella umbrellas Regenschirm Regenschirme m object open
house houses Haus Häuser n place in build clean buy
garden gardens Garten Gärten m place in
kitchen kitchens Küche Küchen f place in clean
school schools Schule Schulen f place in build
city cities Stadt Städte f place in
park parks Park Parks m place in
forest forests Wald Wälder m place in
room rooms Zimmer Zimmer n place in clean
village villages Dorf Dörfer n place in
street streets Straße Straßen f place on
river rivers Fluss Flüsse m place in
table tables Tisch Tische m place on build clean buy
chair chairs Stuhl Stühle m place on build buy
bed beds Bett Betten n place on build buy
tree trees Baum Bäume m place on
bridge bridges Brücke Brücken f place on build
car cars Auto Autos n place in clean buy
door doors Tür Türen f place open
window windows Fenster Fenster n place open clean
wall walls Wand Wände f place
church churches Kirche Kirchen f place in build
station stations Bahnhof Bahnhöfe m place in
"""

# en de[/attributive stem] what it describes: p = people, a = animals, o = objects and places
_ADJECTIVES = """
big groß pao
small klein pao
old alt pao
young jung pa
new neu o
good gut pao
beautiful schön pao
tired müde pa
happy glücklich pa
sad traurig pa
hungry hungrig pa
clever klug pa
friendly freundlich pa
angry wütend pa
rich reich p
poor arm p
lazy faul pa
brave mutig pa
red rot o
black schwarz ao
white weiß ao
green grün o
blue blau o
brown braun ao
heavy schwer ao
expensive teuer/teur o
cheap billig o
dark dunkel/dunkl o
empty leer o
clean sauber ao
dirty schmutzig ao
"""

# English forms | German forms, auxiliary, optional "ich" form | s= subject tags, o= object tags,
# o2= accusative object of a ditransitive, "stative" = no manner adverb.
_VERBS = {
    "tr": """
see sees saw seen | sehen sieht sah gesehen h | s=animate o=any
hear hears heard heard | hören hört hörte gehört h | s=animate o=person,animal,text
find finds found found | finden findet fand gefunden h | s=animate o=animal,object
buy buys bought bought | kaufen kauft kaufte gekauft h | s=person o=object,animal,buy
sell sells sold sold | verkaufen verkauft verkaufte verkauft h | s=person o=object,animal,buy
carry carries carried carried | tragen trägt trug getragen h | s=person o=object,animal
write writes wrote written | schreiben schreibt schrieb geschrieben h | s=person o=text
eat eats ate eaten | essen isst aß gegessen h | s=person o=food
need needs needed needed | brauchen braucht brauchte gebraucht h | s=person o=object stative
visit visits visited visited | besuchen besucht besuchte besucht h | s=person o=person,in
love loves loved loved | lieben liebt liebte geliebt h | s=animate o=person,animal stative
like likes liked liked | mögen mag mochte gemocht h mag | s=animate o=any stative
wash washes washed washed | waschen wäscht wusch gewaschen h | s=person o=object,animal,person
open opens opened opened | öffnen öffnet öffnete geöffnet h | s=person o=open
have has had had | haben hat hatte gehabt h | s=animate o=object,animal stative
know knows knew known | kennen kennt kannte gekannt h | s=animate o=person,animal,place stative
meet meets met met | treffen trifft traf getroffen h | s=person o=person
forget forgets forgot forgotten | vergessen vergisst vergaß vergessen h | s=person o=object,person,text
build builds built built | bauen baut baute gebaut h | s=person o=build
paint paints painted painted | malen malt malte gemalt h | s=person o=any
catch catches caught caught | fangen fängt fing gefangen h | s=animate o=animal
call calls called called | rufen ruft rief gerufen h | s=animate o=person,animal
clean cleans cleaned cleaned | putzen putzt putzte geputzt h | s=person o=clean
""",
    "dat": """
help helps helped helped | helfen hilft half geholfen h | s=animate o=person,animal
thank thanks thanked thanked | danken dankt dankte gedankt h | s=person o=person
follow follows followed followed | folgen folgt folgte gefolgt s | s=animate o=person,animal
answer answers answered answered | antworten antwortet antwortete geantwortet h | s=person o=person
""",
    "ditr": """
give gives gave given | geben gibt gab gegeben h | s=person o=person,animal o2=object
show shows showed shown | zeigen zeigt zeigte gezeigt h | s=person o=person o2=object,animal,text
bring brings brought brought | bringen bringt brachte gebracht h | s=person o=person o2=object
send sends sent sent | schicken schickt schickte geschickt h | s=person o=person o2=object,text
""",
    "intr": """
sleep sleeps slept slept | schlafen schläft schlief geschlafen h | s=animate
laugh laughs laughed laughed | lachen lacht lachte gelacht h | s=person
work works worked worked | arbeiten arbeitet arbeitete gearbeitet h | s=person
sing sings sang sung | singen singt sang gesungen h | s=animate
play plays played played | spielen spielt spielte gespielt h | s=animate
wait waits waited waited | warten wartet wartete gewartet h | s=animate
dance dances danced danced | tanzen tanzt tanzte getanzt h | s=person
cry cries cried cried | weinen weint weinte geweint h | s=person
sit sits sat sat | sitzen sitzt saß gesessen h | s=animate
stand stands stood stood | stehen steht stand gestanden h | s=animate
stay stays stayed stayed | bleiben bleibt blieb geblieben s | s=animate stative
""",
    "motion": """
go goes went gone | gehen geht ging gegangen s | s=animate
run runs ran run | laufen läuft lief gelaufen s | s=animate
come comes came come | kommen kommt kam gekommen s | s=animate
fly flies flew flown | fliegen fliegt flog geflogen s | s=animate
jump jumps jumped jumped | springen springt sprang gesprungen s | s=animate
swim swims swam swum | schwimmen schwimmt schwamm geschwommen s | s=animate
travel travels travelled travelled | reisen reist reiste gereist s | s=person
climb climbs climbed climbed | klettern klettert kletterte geklettert s klettere | s=animate
""",
    "clause": """
say says said said | sagen sagt sagte gesagt h | s=person
know knows knew known | wissen weiß wusste gewusst h weiß | s=person
believe believes believed believed | glauben glaubt glaubte geglaubt h | s=person
think thinks thought thought | denken denkt dachte gedacht h | s=person
hope hopes hoped hoped | hoffen hofft hoffte gehofft h | s=person
""",
}

# en de kind tenses frontable
_ADVERBS = """
yesterday gestern time past front
today heute time pres,past,perf front
now jetzt time pres front
then dann time past front
often oft freq pres,past,perf -
always immer freq pres,past,perf -
never nie freq pres,past,perf -
rarely selten freq pres,past,perf -
sometimes manchmal freq pres,past,perf front
usually meistens freq pres,past front
quickly schnell manner pres,past,perf -
slowly langsam manner pres,past,perf -
loudly laut manner pres,past,perf -
quietly leise manner pres,past,perf -
carefully vorsichtig manner pres,past,perf -
happily fröhlich manner pres,past,perf -
"""

# English words joined by "_", German, case, use, noun tags
_PREPOSITIONS = """
in in dat loc in
on auf dat loc on
under unter dat loc on
behind hinter dat loc place
next_to neben dat loc place
in_front_of vor dat loc place
into in acc dir in
onto auf acc dir on
to zu dat dir place,person
from von dat dir place,person
out_of aus dat dir in
through durch acc dir in
with mit dat with person,animal,object
without ohne acc with person,animal,object
for für acc for person,animal
"""

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


NOUNS = _parse_nouns(_NOUNS)
ADJECTIVES = _parse_adjectives(_ADJECTIVES)
VERBS = _parse_verbs(_VERBS)
ADVERBS = _parse_adverbs(_ADVERBS)
PREPOSITIONS = _parse_prepositions(_PREPOSITIONS)


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
