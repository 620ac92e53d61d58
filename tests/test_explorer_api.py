"""The attention explorer's JSON API (nmt.explorer) on the tiny run folders, through Starlette's TestClient."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf
from starlette.testclient import TestClient

import nmt
from nmt.align import aer, hard_alignment, parse_pharaoh
from nmt.corpora.toy import load_toy
from nmt.explorer import create_app
from nmt.explorer_models import ExplorerModel, GoldPair, Limits, normalise, toy_gold

SENTENCE = "alpha beta gamma delta"
GOLD = GoldPair("DELTA GAMMA BETA ALPHA", "0-3 1-2 2-1 3-0")  # the reverse corpus's rule, links source-target
LIMITS = Limits(max_chars=200, max_beam=4, max_samples=3, max_top_k=20, max_queue=8)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def translators(transformer_run, rnn_run) -> dict[str, nmt.Translator]:
    return {"transformer": nmt.load(transformer_run), "rnn": nmt.load(rnn_run)}


@pytest.fixture(scope="module")
def client(translators) -> TestClient:
    models = {label: ExplorerModel(label, t, LIMITS, gold={SENTENCE: GOLD}) for label, t in translators.items()}
    with TestClient(create_app(models, LIMITS), raise_server_exceptions=False) as c:
        yield c


def post(client: TestClient, path: str, **body) -> list[dict]:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def refused(client: TestClient, path: str, content: bytes | dict, status: int, *words: str) -> None:
    response = client.post(path, json=content) if isinstance(content, dict) else client.post(path, content=content)
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert "\n" not in message
    for word in words:
        assert word in message


def test_page_script_and_models(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/explorer.js" in page.text
    for name in ("explorer.js", "explorer.css"):
        assert client.get(f"/static/{name}").status_code == 200
    assert "http" not in client.get("/static/explorer.js").text.replace("http://www.w3.org/2000/svg", "")  # no CDN
    info = client.get("/api/models").json()
    layout = {m["label"]: (m["layers"], m["heads"], m["self_attention"]) for m in info["models"]}
    assert layout == {"transformer": (2, 4, True), "rnn": (1, 1, False)}
    assert info["limits"]["max_beam"] == LIMITS.max_beam


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_translate_is_the_python_api(client, translators, strategy):
    results = post(client, "/api/translate", text=SENTENCE, strategy=strategy, beam_size=3)
    for result in results:
        expected = translators[result["model"]].translate([SENTENCE], strategy=strategy, beam_size=3)[0]
        best = result["hypotheses"][0]
        assert best["text"] == expected
        assert best["tgt_pieces"][-1] == "</s>" and len(best["tgt_pieces"]) == len(best["tgt_ids"]) + 1


def test_n_best_and_seeded_samples(client):
    beams = post(client, "/api/translate", text=SENTENCE, strategy="beam", beam_size=4, n_best=3, runs=["rnn"])
    scores = [h["score"] for h in beams[0]["hypotheses"]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    body = dict(text=SENTENCE, strategy="sample", n_best=3, temperature=1.5, seed=7, runs=["transformer"])
    first, again = post(client, "/api/translate", **body), post(client, "/api/translate", **body)
    assert len(first[0]["hypotheses"]) == 3 and first == again


@pytest.mark.parametrize("label", ["transformer", "rnn"])
def test_attention_is_the_search_attention(client, translators, label):
    """Teacher-forced on a hypothesis' ids, the panel is the attention the search computed (incremental == full)."""
    hyp = post(client, "/api/translate", text=SENTENCE, strategy="greedy", runs=[label])[0]["hypotheses"][0]
    searched = translators[label].translate([SENTENCE], strategy="greedy", return_attention=True)[0].attention
    L, h = searched.shape[:2]
    for layer, head in [(L, "avg"), (1, h)]:
        answer = post(
            client, "/api/attention", text=SENTENCE, target_ids=hyp["tgt_ids"], layer=layer, head=head, runs=[label]
        )[0]
        heads = searched[layer - 1].numpy()  # (h, T, S)
        expected = heads.mean(axis=0) if head == "avg" else heads[head - 1]
        assert (answer["layers"], answer["heads"]) == (L, h)
        assert (answer["y"], answer["x"]) == (hyp["tgt_pieces"], hyp["src_pieces"])
        np.testing.assert_allclose(np.array(answer["weights"]), expected, atol=1e-4)
        np.testing.assert_allclose(np.array(answer["weights"]).sum(axis=1), 1.0, atol=1e-3)


def test_self_attention_only_where_the_model_has_it(client):
    ids = post(client, "/api/translate", text=SENTENCE, strategy="greedy", runs=["transformer"])[0]["hypotheses"][0]
    enc = post(client, "/api/attention", text=SENTENCE, target_ids=ids["tgt_ids"], kind="encoder", runs=["transformer"])
    assert enc[0]["x"] == enc[0]["y"] == ids["src_pieces"] and enc[0]["row_steps"] is None
    dec = post(client, "/api/attention", text=SENTENCE, target_ids=ids["tgt_ids"], kind="decoder", runs=["transformer"])
    weights = np.array(dec[0]["weights"])  # (T, T): causal, so nothing above the diagonal
    assert weights.shape == (len(ids["tgt_pieces"]),) * 2 and np.allclose(np.triu(weights, 1), 0, atol=1e-6)
    body = dict(text=SENTENCE, reference=True, kind="encoder", runs=["rnn"])
    refused(client, "/api/attention", body, 422, "rnn", "no encoder self-attention")


def test_gold_links_and_aer_agree_with_the_panel(client):
    """On the reference, word panels carry the gold links and the AER of their own argmax links."""
    for label in ("transformer", "rnn"):
        answer = post(client, "/api/attention", text=SENTENCE, reference=True, words=True, runs=[label])[0]
        gold = answer["gold"]
        assert gold["drawn"] and answer["y"][:-1] == GOLD.reference.split()
        sure, possible = parse_pharaoh(GOLD.links)
        assert sorted((x0, y0) for x0, _, y0, _ in gold["links"]) == sorted(possible)
        panel = np.array(answer["weights"])[:-1, :-1]  # EOS row and column dropped, as nmt.align does
        assert gold["aer"] == pytest.approx(aer(hard_alignment(panel), sure, possible), abs=1e-4)
    # on pieces a link covers its words' pieces; off the reference, links are not drawn but the AER stays
    pieces = post(client, "/api/attention", text=SENTENCE, reference=True, runs=["transformer"])[0]
    assert all(x1 < len(pieces["x"]) and y1 < len(pieces["y"]) for _, x1, _, y1 in pieces["gold"]["links"])
    other = post(client, "/api/attention", text=SENTENCE, target_ids=[5, 6], runs=["transformer"])[0]["gold"]
    assert not other["drawn"] and other["links"] == [] and other["aer"] == pieces["gold"]["aer"]


def test_next_token_is_the_sampling_distribution(client, translators):
    hyp = post(client, "/api/translate", text=SENTENCE, strategy="greedy", runs=["transformer"])[0]["hypotheses"][0]
    ids = hyp["tgt_ids"]
    entropies = []
    for t in (0.5, 1.0, 3.0):
        answer = post(
            client, "/api/next-token", text=SENTENCE, prefix_ids=ids[:1], temperature=t, runs=["transformer"]
        )[0]
        expected = translators["transformer"].next_token(SENTENCE, ids[:1], temperature=t)
        assert answer["ids"] == expected.ids and answer["probs"] == pytest.approx(expected.probs, abs=1e-5)
        assert answer["step"] == 1 and answer["prefix_pieces"] == hyp["tgt_pieces"][:1]
        entropies.append(answer["entropy"])
    assert entropies == sorted(entropies)  # hotter is flatter
    greedy_next = post(client, "/api/next-token", text=SENTENCE, prefix_ids=ids[:1], runs=["transformer"])[0]
    assert greedy_next["ids"][0] == ids[1]  # greedy search took the most likely piece


@pytest.mark.parametrize(
    ("path", "content", "status", "words"),
    [
        ("/api/translate", {"text": "   "}, 422, ["empty"]),
        ("/api/translate", {"text": "a" * 10_000}, 413, ["10000", "max_chars=200"]),
        ("/api/translate", b'{"text": "\xff\xfe"}', 400, ["UTF-8", "byte"]),
        ("/api/translate", b'{"text": ', 400, ["not valid JSON"]),
        ("/api/translate", b"[1, 2]", 422, ["body"]),
        ("/api/translate", {"text": "alpha", "runs": ["nope"]}, 404, ["unknown run 'nope'", "transformer"]),
        ("/api/translate", {"text": "alpha", "beam_size": 50}, 422, ["beam_size=50", "max_beam=4"]),
        ("/api/translate", {"text": "alpha", "strategy": "beam", "beam_size": 2, "n_best": 3}, 422, ["n_best=3"]),
        ("/api/translate", {"text": "alpha", "strategy": "sample", "n_best": 9}, 422, ["max_samples=3"]),
        ("/api/translate", {"text": "alpha", "strategy": "greedy", "n_best": 2}, 422, ["greedy"]),
        ("/api/translate", {"text": "alpha", "strategy": "wild"}, 422, ["strategy"]),
        ("/api/translate", {"text": "alpha", "temperature": 0}, 422, ["temperature"]),
        ("/api/translate", {"text": "alpha", "colour": 1}, 422, ["colour"]),
        ("/api/attention", {"text": "alpha", "runs": ["rnn"]}, 422, ["target_ids", "reference=true"]),
        ("/api/attention", {"text": "alpha", "target_ids": [5]}, 422, ["one run", "runs="]),
        ("/api/attention", {"text": "alpha", "target_ids": [10**6], "runs": ["rnn"]}, 422, ["1000000"]),
        ("/api/attention", {"text": "alpha", "target_ids": [5], "layer": 9, "runs": ["rnn"]}, 422, ["layers 1 to 1"]),
        ("/api/attention", {"text": "alpha", "target_ids": [5], "head": 5, "runs": ["transformer"]}, 422, ["heads 1"]),
        ("/api/attention", {"text": "delta alpha", "reference": True, "runs": ["rnn"]}, 422, ["toy-corpus"]),
        ("/api/next-token", {"text": "alpha", "k": 500, "runs": ["rnn"]}, 422, ["max_top_k=20"]),
        ("/api/next-token", {"text": "alpha", "prefix_ids": [-1], "runs": ["rnn"]}, 422, ["-1"]),
    ],
)
def test_bad_requests_get_a_reason(client, path, content, status, words):
    refused(client, path, content, status, *words)
    assert client.get("/api/models").status_code == 200  # and the server keeps serving


def test_toy_gold_comes_from_the_run_config_without_instantiating_it():
    cfg = OmegaConf.create(
        {
            "data": {
                "name": "toy",
                "corpus": {
                    "_target_": "nmt.corpora.toy.load_toy",
                    "src_lang": "en",
                    "tgt_lang": "de",
                    "seed": 3,
                    "n_train": 30,
                    "n_val": 5,
                    "n_test": 5,
                },
            }
        }
    )
    gold = toy_gold(cfg)
    test = load_toy("en", "de", seed=3, n_train=30, n_val=5, n_test=5).splits["test"]
    assert len(gold) == 40 and list(gold)[:5] == test.src  # test sentences first (the page's examples)
    assert gold[test.src[0]] == GoldPair(test.tgt[0], test.alignments[0])
    assert normalise("  " + test.src[1].replace(" ", "   ")) in gold  # typed spacing does not matter
    cfg.data.corpus["_target_"] = "os.system"
    assert toy_gold(cfg) == {}
    cfg.data.name = "custom"
    assert toy_gold(cfg) == {}
