"""The training loss: label-smoothed cross-entropy over real tokens, eager or through torch.compile."""

from __future__ import annotations

import pytest
import torch

from nmt.batch import Batch
from nmt.models.rnn import Bahdanau
from nmt.models.transformer import Transformer
from nmt.module import Seq2SeqModule

PAD, VOCAB = 0, 50


def module(compile_loss: bool) -> Seq2SeqModule:
    dims = {"emb_dim": 4, "hidden_dim": 4, "attn_dim": 4}
    model = Bahdanau(VOCAB, VOCAB, pad_id=PAD, bos_id=2, eos_id=3, shared_vocab=True, **dims)
    return Seq2SeqModule(model, optimizer=lambda params: torch.optim.SGD(params, lr=0.1), compile_loss=compile_loss)


def test_padding_is_ignored_and_smoothing_raises_the_loss():
    m = module(compile_loss=False)
    logits = torch.randn(2, 3, VOCAB)  # (B, T, V)
    target = torch.tensor([[5, 6, PAD], [7, PAD, PAD]])
    real = torch.tensor([[5, 6, 8], [7, 9, 9]])
    kept = m.loss(logits, target, 0.0)
    # Mean over the 3 real tokens only: the padded positions' logits change nothing …
    changed = logits.clone()
    changed[0, 2], changed[1, 1:] = 100.0, -100.0
    assert torch.allclose(m.loss(changed, target, 0.0), kept)
    # … and they would if they were real tokens.
    assert not torch.allclose(m.loss(logits, real, 0.0), kept)
    # A peaked distribution on the right token costs more once ε of its mass is spread.
    peaked = torch.full((1, 1, VOCAB), -10.0)
    peaked[0, 0, 5] = 10.0
    assert m.loss(peaked, target[:1, :1], 0.1) > m.loss(peaked, target[:1, :1], 0.0)


@pytest.mark.slow
def test_compiled_loss_matches_eager_on_batches_of_different_shapes():
    eager, compiled = module(compile_loss=False), module(compile_loss=True)
    compiled.train()
    for shape in [(3, 5), (4, 7), (2, 2)]:  # dynamic shapes: every batch has its own
        target = torch.randint(4, VOCAB, shape)
        target[0, -1] = PAD
        logits = torch.randn(*shape, VOCAB, requires_grad=True)
        expected = eager.loss(logits, target, 0.1)
        (grad_expected,) = torch.autograd.grad(expected, logits)
        got = compiled.loss(logits, target, 0.1)
        (grad_got,) = torch.autograd.grad(got, logits)
        torch.testing.assert_close(got, expected)
        torch.testing.assert_close(grad_got, grad_expected)
        assert grad_got[0, -1].abs().max() == 0  # the padded position gets no gradient


@pytest.mark.slow
def test_compiled_loss_under_bf16_autocast_is_the_fp32_loss_of_the_bf16_logits():
    """Under ``bf16-mixed`` (the Multi30k recipes) the logits come out of the output layer in bf16; the
    eager and the compiled loss both compute in fp32 from them (autocast's policy), so they agree."""
    eager, compiled = module(compile_loss=False), module(compile_loss=True)
    compiled.train()
    target = torch.randint(4, VOCAB, (4, 7))
    target[0, -1] = PAD
    logits = torch.randn(4, 7, VOCAB).to(torch.bfloat16).requires_grad_()  # (B, T, V), as autocast's matmul gives
    reference = eager.loss(logits.float(), target, 0.2)  # fp32 arithmetic on the same bf16 values
    (grad_reference,) = torch.autograd.grad(reference, logits)
    for m in (eager, compiled):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = m.loss(logits, target, 0.2)
        (grad,) = torch.autograd.grad(loss, logits)
        assert loss.dtype == torch.float32 and grad.dtype == torch.bfloat16
        torch.testing.assert_close(loss, reference)
        torch.testing.assert_close(grad, grad_reference)  # bf16's tolerance: the gradient is rounded to bf16


@pytest.mark.slow
@pytest.mark.filterwarnings(r"ignore:You are trying to `self.log\(\)`")  # training_step outside a Trainer
@pytest.mark.parametrize("name", ["transformer", "rnn"])
def test_compiled_training_forward_matches_eager_and_leaves_the_weights_alone(name):
    # The Transformer compiles its whole forward; the RNN the body of its loop over positions.
    def build(compile_model: bool) -> Seq2SeqModule:
        torch.manual_seed(0)
        if name == "transformer":
            dims = {"d_model": 8, "n_heads": 2, "enc_layers": 1, "dec_layers": 1, "d_ff": 16, "dropout": 0.0}
            model = Transformer(VOCAB, VOCAB, pad_id=PAD, bos_id=2, eos_id=3, shared_vocab=True, **dims)
        else:
            dims = {"emb_dim": 6, "hidden_dim": 8, "attn_dim": 5, "dec_layers": 2, "dropout": 0.0}
            model = Bahdanau(VOCAB, VOCAB, pad_id=PAD, bos_id=2, eos_id=3, shared_vocab=True, **dims)
        sgd = lambda params: torch.optim.SGD(params, lr=0.1)  # noqa: E731
        return Seq2SeqModule(model, optimizer=sgd, compile_model=compile_model).train()

    eager, compiled = build(False), build(True)
    assert list(compiled.state_dict()) == list(eager.state_dict())  # checkpoints hold the eager model
    for b, s, t in [(3, 5, 4), (4, 7, 6), (2, 2, 3)]:  # dynamic shapes: every batch has its own
        src, tgt = torch.randint(4, VOCAB, (b, s)), torch.randint(4, VOCAB, (b, t + 1))
        src[0, -1] = PAD
        batch = Batch(src, src != PAD, torch.arange(b), tgt_in=tgt[:, :-1], tgt_out=tgt[:, 1:], ntokens=b * t)
        expected, got = eager.training_step(batch, 0), compiled.training_step(batch, 0)
        torch.testing.assert_close(got, expected)
        expected.backward(), got.backward()
        for (param, p), q in zip(eager.named_parameters(), compiled.parameters(), strict=True):
            torch.testing.assert_close(q.grad, p.grad, msg=param)
