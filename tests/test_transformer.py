import pytest
import torch

from nmt.batch import Batch
from nmt.models.transformer import Transformer

PAD, BOS, EOS = 0, 2, 3


def tiny(pre_norm: bool = False, shared: bool = True, **kw) -> Transformer:
    torch.manual_seed(0)
    return Transformer(
        24,
        24 if shared else 20,
        PAD,
        BOS,
        EOS,
        shared,
        d_model=32,
        n_heads=4,
        enc_layers=2,
        dec_layers=2,
        d_ff=64,
        pre_norm=pre_norm,
        **kw,
    ).eval()


def batch() -> Batch:
    return Batch.from_ids([[5, 6, 7, 8, 9], [10, 11]], [[12, 13, 14], [15]], [0, 1], PAD, BOS, EOS)


@pytest.mark.parametrize("pre_norm", [False, True])
def test_shapes_and_weights(pre_norm):
    m, b = tiny(pre_norm), batch()
    logits, att = m(b.src, b.src_mask, b.tgt_in, need_weights=True)
    B, S, T = 2, b.src.size(1), b.tgt_in.size(1)
    assert logits.shape == (B, T, 24)
    assert att.cross.shape == (B, 2, 4, T, S)
    assert att.encoder.shape == (B, 2, 4, S, S)
    assert att.decoder.shape == (B, 2, 4, T, T)
    torch.testing.assert_close(att.cross.sum(-1), torch.ones(B, 2, 4, T))
    assert (att.cross[1, ..., 3:] == 0).all()  # sentence 2 has 3 real source positions (2 + EOS)
    assert (att.decoder.triu(1) == 0).all()  # the causal triangle


def test_fused_path_equals_explicit_path():
    m, b = tiny(), batch()
    fused, _ = m(b.src, b.src_mask, b.tgt_in, need_weights=False)
    explicit, _ = m(b.src, b.src_mask, b.tgt_in, need_weights=True)
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)


def test_causality_future_tokens_do_not_change_earlier_logits():
    m, b = tiny(), batch()
    logits, _ = m(b.src, b.src_mask, b.tgt_in)
    changed = b.tgt_in.clone()
    changed[0, 2:] = torch.tensor([20, 21])
    logits2, _ = m(b.src, b.src_mask, changed)
    torch.testing.assert_close(logits[0, :2], logits2[0, :2])
    assert not torch.allclose(logits[0, 2:], logits2[0, 2:])


def test_padding_does_not_change_a_sentence():
    m = tiny()
    alone = Batch.from_ids([[10, 11]], [[15, 16]], [0], PAD, BOS, EOS)
    padded = Batch.from_ids([[10, 11], [5, 6, 7, 8, 9, 4]], [[15, 16], [12, 13, 14, 17, 18]], [0, 1], PAD, BOS, EOS)
    a, _ = m(alone.src, alone.src_mask, alone.tgt_in)
    p, _ = m(padded.src, padded.src_mask, padded.tgt_in)
    torch.testing.assert_close(a[0], p[0, : a.size(1)], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pre_norm", [False, True])
def test_incremental_equals_full(pre_norm):
    m, b = tiny(pre_norm), batch()
    full, att = m(b.src, b.src_mask, b.tgt_in, need_weights=True)
    state = m.init_state(m.encode(b.src, b.src_mask))
    steps, weights = [], []
    for t in range(b.tgt_in.size(1)):
        out = m.step(b.tgt_in[:, t], state, need_weights=True)
        state = out.state
        steps.append(out.logits)
        weights.append(out.attention)
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.stack(weights, 3), att.cross, atol=1e-5, rtol=1e-5)


def test_reorder_state_selects_rows():
    m, b = tiny(), batch()
    state = m.init_state(m.encode(b.src, b.src_mask))
    state = m.step(b.tgt_in[:, 0], state).state
    idx = torch.tensor([1, 1, 0])
    r = m.reorder_state(state, idx)
    assert r.src_mask.shape[0] == 3 and r.self_kv[0][0].shape[0] == 3 and r.position == 1
    torch.testing.assert_close(r.memory_kv[1][0][0], state.memory_kv[1][0][1])


def test_embeddings_tied_when_vocab_is_joint():
    joint, separate = tiny(shared=True), tiny(shared=False)
    assert joint.src_embed is joint.tgt_embed and joint.out_proj is None
    assert separate.src_embed is not separate.tgt_embed
    n_joint = sum(p.numel() for p in joint.parameters())
    n_sep = sum(p.numel() for p in separate.parameters())
    assert n_sep > n_joint


def test_a_few_steps_lower_the_loss():
    torch.manual_seed(0)
    m = tiny().train()
    b = Batch.from_ids([[5, 6, 7, 8], [9, 10, 11]] * 4, [[8, 7, 6, 5], [11, 10, 9]] * 4, range(8), PAD, BOS, EOS)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        logits, _ = m(b.src, b.src_mask, b.tgt_in)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), b.tgt_out.flatten(), ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
