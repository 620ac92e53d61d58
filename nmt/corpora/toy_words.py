"""The words of the toy English-German corpus as plain-text tables, one entry a line.

``nmt.corpora.toy_lexicon`` parses them once at import into typed entries and inflects them; the
comment above each table names its columns. Tags such as "animate" and "any" are shorthands that the
lexicon expands ("person,animal"; every noun kind).
"""

# en en_pl de de_pl gender ("*": weak masculine) tags
NOUN_TABLE = """
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
ADJECTIVE_TABLE = """
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
VERB_TABLES = {
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
ADVERB_TABLE = """
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
PREPOSITION_TABLE = """
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
