"""The next-token distribution: the one that greedy search and sampling choose from."""

from __future__ import annotations

import math

import pytest
import torch

import nmt
from nmt.batch import Batch
from nmt.next_token import entropy, next_token_log_probs, temperature_probs
from nmt.search import greedy

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("fixture", ["transformer_run", "rnn_run"])
def test_greedy_picks_the_argmax_of_next_token_at_every_step(fixture, request):
    translator = nmt.load(request.getfixturevalue(fixture))
    source = "alpha beta gamma delta"
    ids, _ = translator._encode([source])
    v = translator.vocab
    batch = Batch.from_ids(ids, None, [0], v.pad_id, v.bos_id, v.eos_id)
    hyp = greedy(translator.model, batch.src, batch.src_mask, 1.5, 10)[0]
    tokens = [*hyp.tokens, v.eos_id]
    log_prob = 0.0
    for t, token in enumerate(tokens):
        prefix = torch.tensor([tokens[:t]], dtype=torch.long).view(1, -1)  # (1, t)
        logp = next_token_log_probs(translator.model, batch.src, batch.src_mask, prefix)[0]  # (V,)
        assert int(logp.argmax()) == token
        assert translator.next_token(source, prefix=tokens[:t], k=1).ids == [token]
        log_prob += float(logp[token])
    # The same log-probability as search computed (the displayed probabilities are renormalised
    # without PAD and BOS, as sampling draws them).
    assert log_prob == pytest.approx(hyp.log_prob, abs=1e-4)


def test_temperature_flattens_and_sharpens(transformer_run):
    translator = nmt.load(transformer_run)
    entropies = [translator.next_token("alpha beta", temperature=t, k=5).entropy for t in (0.25, 1.0, 4.0)]
    assert entropies[0] < entropies[1] < entropies[2]
    step = translator.next_token("alpha beta", k=5)
    assert step.probs == sorted(step.probs, reverse=True) and len(step.pieces) == 5
    assert translator.vocab.bos_id not in translator.next_token("alpha beta", k=1000).ids[:-2]


def test_temperature_probs_and_entropy_on_small_tensors():
    logp = torch.log_softmax(torch.tensor([[2.0, 1.0, 0.0, float("-inf")]]), dim=-1)  # (1, V)
    p1 = temperature_probs(logp, 1.0)
    torch.testing.assert_close(p1, logp.exp())
    top2 = temperature_probs(logp, 1.0, top_k=2)
    assert top2[0, 2] == 0 and top2[0, 3] == 0 and math.isclose(float(top2.sum()), 1.0, rel_tol=1e-6)
    uniform = torch.full((4,), 0.25)
    assert float(entropy(uniform)) == pytest.approx(math.log(4))
    assert float(entropy(torch.tensor([1.0, 0.0]))) == 0.0
    with pytest.raises(ValueError, match="temperature"):
        temperature_probs(logp, 0.0)
