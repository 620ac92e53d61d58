import math

import pytest
import torch

from nmt.attention import (
    AdditiveAttention,
    MultiHeadAttention,
    causal_mask,
    key_mask,
    padding_mask,
    scaled_dot_product_attention,
)


def test_padding_and_causal_masks():
    tokens = torch.tensor([[5, 6, 0], [7, 0, 0]])
    assert padding_mask(tokens, 0).tolist() == [[True, True, False], [True, False, False]]
    c = causal_mask(3)
    assert c.tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert key_mask(padding_mask(tokens, 0)).shape == (2, 1, 1, 3)


@pytest.mark.parametrize("causal", [False, True])
def test_fused_equals_explicit(causal):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 4, 5, 8) for _ in range(3))
    mask = key_mask(torch.tensor([[True] * 5, [True, True, True, False, False]]))
    if causal:
        mask = None  # the decoder's self-attention uses causality alone
    fused, none = scaled_dot_product_attention(q, k, v, mask, causal, need_weights=False)
    explicit, w = scaled_dot_product_attention(q, k, v, mask, causal, need_weights=True)
    assert none is None
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 4, 5))


@pytest.mark.parametrize("causal", [False, True])
def test_bf16_training_attention_gives_the_fused_kernels_values_and_gradients(causal):
    """bf16 with gradients on the CPU runs SDPA's unfused kernel (its fused backward is slow there): same numbers."""
    torch.manual_seed(0)
    mask = None if causal else key_mask(torch.tensor([[True] * 5, [True, True, True, False, False]]))
    q, k, v = (torch.randn(2, 4, 5, 8, dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
    with torch.profiler.profile() as prof:
        out, _ = scaled_dot_product_attention(q, k, v, mask, causal)
        grads = torch.autograd.grad(out.float().square().sum(), [q, k, v])
    assert not [e.key for e in prof.key_averages() if "flash" in e.key]  # the unfused kernel, forward and backward
    with torch.no_grad():  # no gradients asked for: the fused kernel, as decoding runs it
        fused, _ = scaled_dot_product_attention(q, k, v, mask, causal)
    q32, k32, v32 = (t.detach().float().requires_grad_() for t in (q, k, v))
    out32, _ = scaled_dot_product_attention(q32, k32, v32, mask, causal)
    grads32 = torch.autograd.grad(out32.square().sum(), [q32, k32, v32])
    torch.testing.assert_close(out.float(), fused.float(), atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(out.float(), out32, atol=2e-2, rtol=2e-2)
    for g, g32 in zip(grads, grads32, strict=True):
        torch.testing.assert_close(g.float(), g32, atol=5e-2, rtol=5e-2)


def test_explicit_weights_are_the_formula():
    torch.manual_seed(1)
    q, k, v = torch.randn(1, 1, 3, 4), torch.randn(1, 1, 6, 4), torch.randn(1, 1, 6, 4)
    mask = key_mask(torch.tensor([[True, True, True, True, False, False]]))
    out, w = scaled_dot_product_attention(q, k, v, mask, need_weights=True)
    scores = q[0, 0] @ k[0, 0].T / math.sqrt(4)
    scores[:, 4:] = float("-inf")
    expected = torch.softmax(scores, -1)
    torch.testing.assert_close(w[0, 0], expected)
    torch.testing.assert_close(out[0, 0], expected @ v[0, 0])
    assert (w[..., 4:] == 0).all()


def test_masked_keys_do_not_change_output():
    torch.manual_seed(2)
    mha = MultiHeadAttention(16, 4).eval()
    x, mem = torch.randn(1, 3, 16), torch.randn(1, 5, 16)
    mask = key_mask(torch.tensor([[True, True, True, False, False]]))
    out1, _ = mha(x, *mha.project_kv(mem), mask)
    mem2 = mem.clone()
    mem2[:, 3:] = torch.randn(1, 2, 16) * 100
    out2, _ = mha(x, *mha.project_kv(mem2), mask)
    torch.testing.assert_close(out1, out2)


def test_additive_attention_masks_and_normalises():
    torch.manual_seed(3)
    att = AdditiveAttention(query_dim=8, key_dim=6, attn_dim=5)
    h = torch.randn(2, 4, 6)
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    context, alpha = att(torch.randn(2, 8), att.project_keys(h), h, mask)
    assert context.shape == (2, 6) and alpha.shape == (2, 4)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(2))
    assert (alpha[1, 2:] == 0).all()
    torch.testing.assert_close(context, torch.einsum("bs,bsd->bd", alpha, h))


def test_heads_must_divide_width():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 3)
