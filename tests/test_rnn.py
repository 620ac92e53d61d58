"""Properties of the Bahdanau et al. (2015) model: masking, incremental == teacher forcing, gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nmt.attention import padding_mask
from nmt.gru import bidirectional_gru, packed_bidirectional_gru, reverse_within_length
from nmt.models.base import Encoded
from nmt.models.rnn import Bahdanau, BahdanauState

V, PAD, BOS, EOS = 20, 0, 1, 2
E, H, A = 16, 24, 20


def make_model(**options) -> Bahdanau:
    torch.manual_seed(0)
    sizes = dict(emb_dim=E, hidden_dim=H, attn_dim=A, dropout=0.1)
    return Bahdanau(V, V, PAD, BOS, EOS, shared_vocab=True, **{**sizes, **options})


def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three sources of lengths 5, 3, 1 (ending in EOS) and targets with padding."""
    src = torch.tensor([[5, 6, 7, 8, EOS], [9, 10, EOS, PAD, PAD], [EOS, PAD, PAD, PAD, PAD]])
    tgt_in = torch.tensor([[BOS, 11, 12, 13], [BOS, 14, PAD, PAD], [BOS, 15, 16, PAD]])
    return src, padding_mask(src, PAD), tgt_in


# Option combinations that change the model's parameters or its computation.
OPTIONS = [
    {},
    {"bridge": "mean"},
    {"maxout": False},
    {"tie_embeddings": True},
    {"share_src_tgt_embeddings": True},
    {"enc_layers": 2, "dec_layers": 3},
    {"bridge": "mean", "maxout": False, "tie_embeddings": True, "share_src_tgt_embeddings": True, "dec_layers": 2},
]


def test_shapes() -> None:
    model = make_model(dec_layers=2).eval()
    src, mask, tgt_in = batch()
    (B, S), T = src.shape, tgt_in.size(1)
    encoded = model.encode(src, mask)
    assert encoded.memory.shape == (B, S, 2 * H) and encoded.mask.shape == (B, S) and encoded.attention is None
    state = model.init_state(encoded)
    assert isinstance(state, BahdanauState)
    assert state.s.shape == (B, 2, H) and state.keys.shape == (B, S, A)
    assert state.annotations.shape == (B, S, 2 * H) and state.mask.shape == (B, S)
    out = model.step(tgt_in[:, 0], state, need_weights=True)
    assert out.logits.shape == (B, V) and out.attention.shape == (B, 1, 1, S) and out.state.s.shape == (B, 2, H)
    assert model.step(tgt_in[:, 0], state).attention is None
    logits, attention = model(src, mask, tgt_in, need_weights=True)
    assert logits.shape == (B, T, V) and attention.cross.shape == (B, 1, 1, T, S)
    assert attention.encoder is None and attention.decoder is None
    assert model(src, mask, tgt_in)[1] is None


def test_annotations_are_zero_on_padding_and_backward_half_at_first_word_is_final_backward_state() -> None:
    model = make_model().eval()
    src, mask, _ = batch()
    h = model.encode(src, mask).memory  # (B, S, 2H)
    assert torch.all(h[~mask] == 0)
    for b, length in enumerate(mask.sum(1).tolist()):
        _, h_n = model.encoder(model.src_embed(src[b : b + 1, :length]))  # (2, 1, H): forward, backward
        torch.testing.assert_close(h[b, 0, H:], h_n[1, 0], atol=1e-6, rtol=0)  # ←h_1
        torch.testing.assert_close(h[b, length - 1, :H], h_n[0, 0], atol=1e-6, rtol=0)  # →h_S


@pytest.mark.parametrize("enc_layers", [1, 2])
def test_padding_does_not_change_a_sentence(enc_layers: int) -> None:
    model = make_model(enc_layers=enc_layers, bridge="mean").eval()
    src, mask, tgt_in = batch()
    alone_src = src[1:2, :3]  # sentence 1 without its padding
    alone = model.encode(alone_src, padding_mask(alone_src, PAD)).memory  # (1, 3, 2H)
    batched = model.encode(src, mask).memory  # (3, 5, 2H)
    torch.testing.assert_close(batched[1:2, :3], alone, atol=1e-6, rtol=0)
    logits_alone, _ = model(alone_src, padding_mask(alone_src, PAD), tgt_in[1:2])
    logits_batched, _ = model(src, mask, tgt_in)
    torch.testing.assert_close(logits_batched[1:2], logits_alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("enc_layers", [1, 2])
def test_encoder_gives_packed_nn_gru_annotations_and_gradients(enc_layers: int) -> None:
    """The unpacked encoder (←h on sentences reversed within their lengths) is nn.GRU on a packed batch."""
    gru = nn.GRU(E, H, enc_layers, batch_first=True, bidirectional=True).eval()  # eval: no inter-layer dropout
    src, mask, _ = batch()
    x = torch.randn(*src.shape, E, requires_grad=True)  # (B, S, E)
    expected = packed_bidirectional_gru(gru, x, mask)  # (B, S, 2H): nn.GRU on a packed batch (the encoder on GPUs)
    got = bidirectional_gru(gru, x, mask)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    weight = torch.randn_like(got)  # one random loss for both, so every output position gets a gradient
    expected_grads = torch.autograd.grad((expected * weight).sum(), [x, *gru.parameters()])
    got_grads = torch.autograd.grad((got * weight).sum(), [x, *gru.parameters()])
    for g, e in zip(got_grads, expected_grads, strict=True):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=0)


def test_reverse_within_length_reverses_words_keeps_padding_and_undoes_itself() -> None:
    x = torch.arange(15.0).view(3, 5, 1)  # (B, S, 1)
    lengths = torch.tensor([5, 3, 1])
    got = reverse_within_length(x, lengths)
    assert got[..., 0].tolist() == [[4, 3, 2, 1, 0], [7, 6, 5, 8, 9], [10, 11, 12, 13, 14]]
    assert torch.equal(reverse_within_length(got, lengths), x)


def test_attention_sums_to_one_on_real_words_and_is_zero_on_padding() -> None:
    model = make_model().eval()
    src, mask, tgt_in = batch()
    _, attention = model(src, mask, tgt_in, need_weights=True)
    alpha = attention.cross[:, 0, 0]  # (B, T, S)
    pad = ~mask[:, None, :].expand_as(alpha)  # (B, T, S)
    assert torch.all(alpha[pad] == 0)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(alpha.shape[:2]))
    assert torch.all(alpha[:, :, 0][mask.sum(1) == 1] == 1)  # a one-word source takes all the weight


@pytest.mark.parametrize("options", OPTIONS)
def test_teacher_forcing_equals_step_by_step(options: dict) -> None:
    model = make_model(**options).eval()
    src, mask, tgt_in = batch()
    logits, attention = model(src, mask, tgt_in, need_weights=True)
    state = model.init_state(model.encode(src, mask))
    for i in range(tgt_in.size(1)):
        out = model.step(tgt_in[:, i], state, need_weights=True)
        torch.testing.assert_close(out.logits, logits[:, i], atol=1e-5, rtol=0)
        torch.testing.assert_close(out.attention, attention.cross[:, :, :, i], atol=1e-5, rtol=0)
        state = out.state


@pytest.mark.parametrize("options", OPTIONS)
def test_every_parameter_gets_a_gradient(options: dict) -> None:
    model = make_model(**options).train()
    src, mask, tgt_in = batch()
    logits, _ = model(src, mask, tgt_in)
    logits.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bridge_backward_is_tanh_W_s_of_backward_state_at_first_word() -> None:
    model = make_model(dec_layers=2).eval()
    src, mask, _ = batch()
    encoded = model.encode(src, mask)
    s0 = model.init_state(encoded).s  # (B, L, H)
    expected = torch.tanh(model.W_s(encoded.memory[:, 0, H:])).view(-1, 2, H)
    torch.testing.assert_close(s0, expected)


def test_each_decoder_layer_reads_its_own_previous_state_and_the_layer_below() -> None:
    model = make_model(dec_layers=2).eval()
    s_prev, Wy, c = torch.randn(3, 2, H), torch.randn(3, 3 * H), torch.randn(3, 2 * H)
    s = model._recur(s_prev, Wy, c)  # (B, 2, H)
    top_bumped = model._recur(s_prev + torch.tensor([0.0, 0.5])[:, None], Wy, c)
    torch.testing.assert_close(top_bumped[:, 0], s[:, 0])  # the bottom layer ignores the top one
    assert not torch.allclose(top_bumped[:, 1], s[:, 1])
    bottom_bumped = model._recur(s_prev + torch.tensor([0.5, 0.0])[:, None], Wy, c)
    assert not torch.allclose(bottom_bumped[:, 0], s[:, 0]) and not torch.allclose(bottom_bumped[:, 1], s[:, 1])


def test_tied_and_shared_embeddings_share_one_matrix() -> None:
    model = make_model(tie_embeddings=True, share_src_tgt_embeddings=True)
    assert model.W_o.weight is model.tgt_embed.weight and model.src_embed is model.tgt_embed
    n_tied = sum(p.numel() for p in model.parameters())
    n_free = sum(p.numel() for p in make_model().parameters())
    assert n_free - n_tied == 2 * V * E


def test_bad_options_raise_value_error() -> None:
    with pytest.raises(ValueError, match="out_dim"):
        make_model(tie_embeddings=True, out_dim=E + 2)
    with pytest.raises(ValueError, match="bridge"):
        make_model(bridge="last")
    with pytest.raises(ValueError, match="joint source/target vocabulary"):
        Bahdanau(V, V, PAD, BOS, EOS, shared_vocab=False, share_src_tgt_embeddings=True)


def test_reorder_state_picks_rows_and_keeps_shapes() -> None:
    model = make_model(dec_layers=2).eval()
    src, mask, tgt_in = batch()
    state = model.step(tgt_in[:, 0], model.init_state(model.encode(src, mask))).state
    index = torch.tensor([2, 2, 0, 1, 1, 1])  # beam expansion and reordering
    picked = model.reorder_state(state, index)
    assert isinstance(picked, BahdanauState)
    for name in ("s", "keys", "annotations", "mask"):
        before, after = getattr(state, name), getattr(picked, name)
        assert after.shape == (len(index), *before.shape[1:])
        assert torch.equal(after, before[index])
    out_all = model.step(tgt_in[:, 1], state).logits
    out_picked = model.step(tgt_in[index, 1], picked).logits
    torch.testing.assert_close(out_picked, out_all[index], atol=1e-6, rtol=0)
    encoded = model.encode(src, mask).select(index)
    assert isinstance(encoded, Encoded) and encoded.memory.shape[0] == len(index)


def test_forward_stores_nothing_on_the_module() -> None:
    model = make_model()
    src, mask, tgt_in = batch()
    before = {k: set(v) if isinstance(v, dict) else v for k, v in vars(model).items()}
    model(src, mask, tgt_in, need_weights=True)
    after = {k: set(v) if isinstance(v, dict) else v for k, v in vars(model).items()}
    assert before == after


def test_a_few_adam_steps_learn_to_copy() -> None:
    torch.manual_seed(1)
    model = make_model(dropout=0.0, hidden_dim=32, attn_dim=32, emb_dim=32)
    words = torch.randint(3, V, (16, 5))  # (B, n)
    src = torch.cat([words, torch.full((16, 1), EOS)], 1)  # (B, n + 1)
    tgt_in = torch.cat([torch.full((16, 1), BOS), words], 1)  # BOS y_1 … y_n
    tgt_out = src  # y_1 … y_n EOS
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        logits, _ = model(src, padding_mask(src, PAD), tgt_in)
        loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
