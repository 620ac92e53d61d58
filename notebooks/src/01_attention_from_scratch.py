# %% [markdown]
# # 01 · Attention from scratch, checked against `nmt.attention`
#
# The ideas from the lecture, one section each: self-attention as a weighted sum; queries, keys and
# values; softmax and its temperature; why the dot product is scaled by √d_k; padding and causal
# masks; multi-head attention; sinusoidal positional encodings (and why order is otherwise invisible);
# Bahdanau's additive attention.
#
# Each section computes the idea by hand on a few small tensors, draws it where a picture helps, and
# then **checks the toolkit's own module against the hand computation** with `torch.testing.assert_close`.
# If a cell's assertion fails, the toolkit does not do what the lecture said.

# %% tags=["parameters"]
# Parameters (notebooks/execute.py overrides them; the tests use small values).
d_model = 16  # width of the toy vectors
n_heads = 4  # heads of the multi-head section
seq_len = 6  # tokens in the toy sentence
n_samples = 4000  # random query/key pairs per d_k in the √d_k section
seed = 0

# %%
# %matplotlib inline
import math

import matplotlib.pyplot as plt
import torch
from IPython.display import display
from torch.testing import assert_close

from nmt.attention import (
    AdditiveAttention,
    MultiHeadAttention,
    causal_mask,
    key_mask,
    padding_mask,
    scaled_dot_product_attention,
)
from nmt.figures import attention_grid, attention_heatmap
from nmt.models.transformer import SinusoidalPositions
from nmt.next_token import entropy, temperature_probs

plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (7.0, 3.0)})
torch.manual_seed(seed)
torch.set_num_threads(1)
tokens = [f"x{i}" for i in range(seq_len)]  # labels of the toy positions

# %% [markdown]
# ## 1. Self-attention is a weighted sum
#
# Every output vector is a **weighted average of the input vectors**: output_i = Σ_j α_ij x_j, with
# weights α_ij ≥ 0 that sum to 1 over j. The weights come from how well x_i matches each x_j (their dot
# product), through a softmax. Expect: each row of α sums to 1, and output row i equals the explicit
# sum over j.

# %%
x = torch.randn(seq_len, d_model)  # (S, D)
alpha = torch.softmax(x @ x.T, dim=-1)  # (S, S): row i = how much token i takes from each token j
out = alpha @ x  # (S, D)

by_hand = torch.stack([sum(alpha[i, j] * x[j] for j in range(seq_len)) for i in range(seq_len)])
assert_close(out, by_hand)
assert_close(alpha.sum(dim=-1), torch.ones(seq_len))
print("row sums of α:", alpha.sum(dim=-1).tolist())
print("largest weight of each row is on the token itself:", bool((alpha.argmax(-1) == torch.arange(seq_len)).all()))

# %% [markdown]
# Without any learnt parameters, a vector matches itself best (x·x = |x|² is large), so α is heavy on
# the diagonal. Learnt projections change *what* matches *what*: that is the next section.

# %% [markdown]
# ## 2. Queries, keys and values
#
# Three linear maps of the same input: a **query** q_i = x_i W^Q asks, a **key** k_j = x_j W^K is what
# position j offers to be matched on, and a **value** v_j = x_j W^V is what it hands over. Attention is
# softmax(QKᵀ / √d_k) V. The toolkit's `scaled_dot_product_attention` has two paths: an *explicit* one
# that returns the weights (for heatmaps), and a *fused* one (PyTorch's SDPA kernel) used for speed when
# the weights are not needed. Expect both to equal the formula.

# %%
d_k = d_model
W_q, W_k, W_v = (torch.randn(d_model, d_k) / math.sqrt(d_model) for _ in range(3))
Q, K, V = x @ W_q, x @ W_k, x @ W_v  # each (S, d_k)
weights = torch.softmax(Q @ K.T / math.sqrt(d_k), dim=-1)  # (S, S)
attended = weights @ V  # (S, d_k)

q4, k4, v4 = (t[None, None] for t in (Q, K, V))  # (1, 1, S, d_k): batch and head axes, as the toolkit wants
explicit, explicit_weights = scaled_dot_product_attention(q4, k4, v4, need_weights=True)
fused, no_weights = scaled_dot_product_attention(q4, k4, v4)
assert_close(explicit[0, 0], attended)
assert_close(explicit_weights[0, 0], weights)
assert_close(fused[0, 0], attended, rtol=1e-5, atol=1e-5)
assert no_weights is None
print("explicit and fused paths both equal softmax(QKᵀ/√d_k)V")
display(attention_heatmap(weights, tokens, tokens, title="softmax(QKᵀ/√d_k), random W"))

# %% [markdown]
# Rows are queries (the token that is being updated), columns are keys. With random projections the
# diagonal is no longer special: what a token attends to is decided by W^Q and W^K, which training learns.

# %% [markdown]
# ## 3. Softmax and its temperature
#
# softmax(s / T): dividing the scores by a temperature T sharpens the distribution (T < 1) or flattens it
# (T > 1). Expect T = 0.25 to put almost everything on the top score and T = 4 to be close to uniform;
# the entropy H = −Σ p log p grows with T. The toolkit uses the same operation when it *samples*
# translations (`nmt.next_token.temperature_probs`, notebook 03); here it is checked on a score vector.

# %%
scores = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0])
temperatures = [0.25, 1.0, 4.0]
fig, axes = plt.subplots(1, len(temperatures), sharey=True)
entropies = []
for ax, T in zip(axes, temperatures, strict=True):
    p = torch.softmax(scores / T, dim=-1)
    assert_close(temperature_probs(torch.log_softmax(scores, dim=-1), T), p)  # the toolkit's sampling distribution
    entropies.append(float(entropy(p)))
    ax.bar(range(len(scores)), p)
    ax.set_title(f"T = {T}: H = {entropies[-1]:.2f} nats")
    ax.set_xlabel("score index")
axes[0].set_ylabel("probability")
assert entropies == sorted(entropies), "entropy must grow with the temperature"
print(f"entropy by temperature: {dict(zip(temperatures, [round(h, 3) for h in entropies], strict=True))}")
print(f"uniform over {len(scores)} would be log {len(scores)} = {math.log(len(scores)):.3f} nats")

# %% [markdown]
# The order of the bars never changes (softmax is monotonic), only how much the top one dominates.
# That is why low-temperature sampling behaves like greedy search and high-temperature sampling like noise.

# %% [markdown]
# ## 4. Why divide by √d_k
#
# If the entries of q and k are independent with mean 0 and variance 1, then q·k is a sum of d_k such
# products, so **its variance is d_k**. Wide heads would feed the softmax huge scores and it would
# saturate: one weight near 1, the rest near 0, and gradients near 0. Dividing by √d_k brings the
# variance back to 1. Expect the unscaled variance to grow in proportion to d_k (a line of slope 1 on
# log–log axes), the scaled one to stay flat near 1, and the largest softmax weight over 10 keys to
# approach 1 without scaling.

# %%
dims = [4, 16, 64, 256, 1024]
n_keys = 10
var_raw, var_scaled, top_raw, top_scaled = [], [], [], []
for d in dims:
    q = torch.randn(n_samples, 1, d)  # (N, 1, d)
    k = torch.randn(n_samples, n_keys, d)  # (N, keys, d)
    dots = (q * k).sum(-1)  # (N, keys)
    var_raw.append(dots.var().item())
    var_scaled.append((dots / math.sqrt(d)).var().item())
    top_raw.append(torch.softmax(dots, -1).max(-1).values.mean().item())
    top_scaled.append(torch.softmax(dots / math.sqrt(d), -1).max(-1).values.mean().item())

fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2), layout="constrained")
left.loglog(dims, var_raw, "o-", label="q·k")
left.loglog(dims, var_scaled, "o-", label="q·k / √d_k")
left.set(xlabel="d_k", ylabel="variance", title="variance of the score")
left.legend()
right.semilogx(dims, top_raw, "o-", label="softmax(q·k)")
right.semilogx(dims, top_scaled, "o-", label="softmax(q·k / √d_k)")
right.set(xlabel="d_k", ylabel=f"mean largest weight of {n_keys}", title="saturation", ylim=(0, 1.05))
right.legend()
for d, vr, vs, tr, ts in zip(dims, var_raw, var_scaled, top_raw, top_scaled, strict=True):
    print(f"d_k={d:5d}  var(q·k)={vr:8.1f}  var(q·k/√d_k)={vs:5.2f}  top weight {tr:.2f} unscaled, {ts:.2f} scaled")
assert all(0.8 < v / d < 1.2 for v, d in zip(var_raw, dims, strict=True)), "var(q·k) should be close to d_k"
assert all(0.8 < v < 1.2 for v in var_scaled), "scaling should bring the variance back to about 1"
assert top_raw[-1] > 0.9 > top_scaled[-1], "without scaling a wide head's softmax saturates"

# %% [markdown]
# With scaling, the typical largest weight stays the same whatever the width of the head: d_k can
# change without retuning anything else. This is the `/ math.sqrt(q.size(-1))` in
# `nmt/attention.py`, which section 2 already checked.

# %% [markdown]
# ## 5. Masks: −∞ before the softmax, 0 after
#
# Two things must not be attended to: **padding** (positions that only fill a batch to a common length)
# and, in the decoder, **the future** (position i may not look at j > i while it is being predicted).
# The toolkit's masks are boolean with True = *may attend* (`padding_mask`, `causal_mask`, `key_mask`,
# built only in `nmt/attention.py`). Masked scores become −∞, and exp(−∞) = 0, so after the softmax their
# weights are exactly 0 and the remaining weights still sum to 1. Expect the two right-hand panels to be
# exactly 0 wherever the left-hand panels are masked.

# %%
pad_id = 0
batch = torch.tensor([[5, 7, 3, 9, pad_id, pad_id]])  # (B=1, S=6): a sentence of 4 tokens and 2 pads
keep = padding_mask(batch, pad_id)  # (1, S), True on real tokens
raw = Q @ K.T / math.sqrt(d_k)  # (S, S)
pad_scores = raw.masked_fill(~keep, float("-inf"))  # every query row loses the padded keys
causal = causal_mask(seq_len)  # (S, S), lower triangle
causal_scores = raw.masked_fill(~causal, float("-inf"))
pad_weights, causal_weights = torch.softmax(pad_scores, -1), torch.softmax(causal_scores, -1)

assert (pad_weights[:, ~keep[0]] == 0).all() and (causal_weights[~causal] == 0).all()
assert_close(pad_weights.sum(-1), torch.ones(seq_len))
assert_close(causal_weights.sum(-1), torch.ones(seq_len))
print("padding mask (True = may attend):", keep[0].tolist())
print("causal mask:\n", causal.int())

fig, axes = plt.subplots(1, 4, figsize=(11, 3), layout="constrained")
panels = [
    (pad_scores, "padding: scores (−∞ white)"),
    (pad_weights, "padding: weights"),
    (causal_scores, "causal: scores (−∞ white)"),
    (causal_weights, "causal: weights"),
]
for ax, (m, title) in zip(axes, panels, strict=True):
    ax.imshow(m.masked_fill(m.isinf(), float("nan")), cmap="viridis")
    ax.set_title(title, fontsize=9)
    ax.set(xlabel="key", ylabel="query")

# %% [markdown]
# Now the toolkit: the explicit and fused paths with a key-padding mask, and `is_causal=True` against an
# explicit causal mask. And the property the causal mask exists for: changing a *later* token leaves every
# *earlier* output unchanged.

# %%
mask4 = key_mask(keep)  # (1, 1, 1, S): one mask for every head and query
explicit, w = scaled_dot_product_attention(q4, k4, v4, mask=mask4, need_weights=True)
fused, _ = scaled_dot_product_attention(q4, k4, v4, mask=mask4)
assert_close(w[0, 0], pad_weights)
assert_close(fused, explicit, rtol=1e-5, atol=1e-5)

by_flag, w_flag = scaled_dot_product_attention(q4, k4, v4, is_causal=True, need_weights=True)
by_mask, _ = scaled_dot_product_attention(q4, k4, v4, mask=causal, need_weights=True)
fused_causal, _ = scaled_dot_product_attention(q4, k4, v4, is_causal=True)
assert_close(w_flag[0, 0], causal_weights)
assert_close(by_flag, by_mask)
assert_close(fused_causal, by_flag, rtol=1e-5, atol=1e-5)

v_changed = v4.clone()
k_changed = k4.clone()
v_changed[..., -1, :] += 10.0  # change the last token's value and key
k_changed[..., -1, :] -= 10.0
after, _ = scaled_dot_product_attention(q4, k_changed, v_changed, is_causal=True)
assert_close(after[..., :-1, :], fused_causal[..., :-1, :], rtol=1e-5, atol=1e-5)
assert not torch.allclose(after[..., -1, :], fused_causal[..., -1, :])
print("masked weights are exactly 0; fused == explicit; the last token cannot change earlier outputs")

# %% [markdown]
# The toolkit never uses a large negative number such as −1e9 instead of −∞: with −∞ a masked weight is
# exactly 0, not merely small. A row with *every* key masked would be 0/0; sources always end in an EOS
# token, so no row ever is.

# %% [markdown]
# ## 6. Multi-head attention: split, attend, concatenate, project
#
# `MultiHeadAttention(d_model, h)` projects the input to Q, K, V of width d_model, **splits** each into h
# heads of width d_k = d_model / h, attends in every head separately, **concatenates** the h outputs and
# **projects** them with W^O. Each head can attend to something different at no extra cost. Below, the
# same computation written with explicit slicing and a loop over heads; expect the toolkit's explicit and
# fused paths to both match it, and a figure with one attention pattern per head.

# %%
mha = MultiHeadAttention(d_model, n_heads).eval()
xb = x[None]  # (1, S, D)
d_head = d_model // n_heads
Qh, Kh, Vh = mha.W_q(xb)[0], mha.W_k(xb)[0], mha.W_v(xb)[0]  # each (S, D)
heads, head_weights = [], []
for h in range(n_heads):
    cols = slice(h * d_head, (h + 1) * d_head)  # head h owns d_k consecutive features
    a = torch.softmax(Qh[:, cols] @ Kh[:, cols].T / math.sqrt(d_head), dim=-1)  # (S, S)
    heads.append(a @ Vh[:, cols])  # (S, d_k)
    head_weights.append(a)
by_hand = mha.W_o(torch.cat(heads, dim=-1))  # (S, D): concatenate, then project

k_proj, v_proj = mha.project_kv(xb)  # (1, h, S, d_k) each
out_explicit, w_heads = mha(xb, k_proj, v_proj, need_weights=True)
out_fused, _ = mha(xb, k_proj, v_proj)
assert_close(out_explicit[0], by_hand)
assert_close(w_heads[0], torch.stack(head_weights))
assert_close(out_fused, out_explicit, rtol=1e-5, atol=1e-5)
print(f"{n_heads} heads of width {d_head}: explicit and fused paths equal split-attend-concatenate-project")
display(attention_grid(w_heads.detach(), tokens, tokens, title="one pattern per head (untrained weights)"))

# %% [markdown]
# The last panel, "avg", is the mean over heads: the heatmaps of trained models in notebook 02 show both.

# %% [markdown]
# ## 7. Sinusoidal positional encodings
#
# PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)): every pair of features
# is a clock running at its own speed, fast on the left and slow on the right. The toolkit adds these to
# the embeddings (`SinusoidalPositions` in `nmt/models/transformer.py`). Expect stripes whose wavelength
# grows from left to right, and the formula to match the toolkit's table entry by entry.

# %%
n_pos, d_pe = 50, 32
table = SinusoidalPositions(d_pe, max_len=n_pos).pe  # (P, D)
pos = torch.arange(n_pos, dtype=torch.float32)[:, None]  # (P, 1)
i = torch.arange(0, d_pe, 2, dtype=torch.float32)  # (D/2,): the even feature indices 2i
angle = pos / 10000 ** (i / d_pe)  # (P, D/2)
assert_close(table[:, 0::2], torch.sin(angle))
assert_close(table[:, 1::2], torch.cos(angle))
fig, ax = plt.subplots(figsize=(7, 3.2))
image = ax.imshow(table.T, cmap="RdBu", aspect="auto", vmin=-1, vmax=1)
ax.set(xlabel="position", ylabel="feature", title="PE(pos, feature)")
fig.colorbar(image, ax=ax)
print("SinusoidalPositions matches sin/cos(pos / 10000^(2i/d)) for", tuple(table.shape), "(positions, features)")

# %% [markdown]
# ## 8. Without positions, order is invisible
#
# Self-attention compares every token with every other token; nothing in softmax(QKᵀ/√d_k)V knows
# which token came first. So **permuting the input permutes the output the same way** (attention is
# permutation-equivariant): "dog bites man" and "man bites dog" would give the same vectors, reordered.
# Adding positional encodings breaks that symmetry. Expect the middle and right panels to be identical
# without positions and different with them.

# %%
perm = torch.randperm(seq_len)
while (perm == torch.arange(seq_len)).all():
    perm = torch.randperm(seq_len)
positions = SinusoidalPositions(d_model)


def self_attend(inputs: torch.Tensor) -> torch.Tensor:
    """The toolkit's multi-head self-attention of one sentence. Shapes: (S, D) -> (S, D)."""
    out, _ = mha(inputs[None], *mha.project_kv(inputs[None]), need_weights=True)
    return out[0].detach()


plain, plain_perm = self_attend(x), self_attend(x[perm])
assert_close(plain_perm, plain[perm])  # same vectors, same new order
with_pe = self_attend(positions(x[None])[0])
with_pe_perm = self_attend(positions(x[perm][None])[0])  # positions are added after the reordering
gap = (with_pe_perm - with_pe[perm]).abs().max().item()
assert gap > 1e-3, "with positions, a permuted sentence should give different vectors"
print(
    f"permutation {perm.tolist()}: without positions max |f(Px) − P f(x)| = "
    f"{(plain_perm - plain[perm]).abs().max().item():.1e}; with positions {gap:.3f}"
)

fig, axes = plt.subplots(2, 3, figsize=(9, 4.5), layout="constrained", sharex=True, sharey=True)
for row, (name, f_x, f_px) in enumerate(
    [("no positions", plain, plain_perm), ("with positions", with_pe, with_pe_perm)]
):
    for ax, (m, title) in zip(
        axes[row], [(f_x, "f(x)"), (f_px, "f(x permuted)"), (f_x[perm], "f(x), permuted")], strict=True
    ):
        ax.imshow(m, cmap="RdBu", aspect="auto")
        ax.set_title(f"{name}: {title}", fontsize=9)
for ax in axes[:, 0]:
    ax.set_ylabel("position")

# %% [markdown]
# The top row's last two panels are the same picture: without positions the model could not tell the
# sentences apart. In the bottom row they differ, because the same word now carries a different position.

# %% [markdown]
# ## 9. Bahdanau's additive attention
#
# The RNN model of the toolkit attends with a small feed-forward network instead of a dot product
# (Bahdanau et al., 2015): at decoder step i, with previous decoder state s_{i−1} and encoder annotations
# h_j, e_ij = v_aᵀ tanh(W_a s_{i−1} + U_a h_j), α_i = softmax(e_i), and the context is c_i = Σ_j α_ij h_j.
# U_a h_j does not depend on the step, so the toolkit computes it once per sentence (`project_keys`).
# Expect the hand computation, with a padded source, to match `AdditiveAttention`, and the padded
# positions to get weight 0.

# %%
hidden, attn_dim = 8, 12
additive = AdditiveAttention(query_dim=hidden, key_dim=2 * hidden, attn_dim=attn_dim)
annotations = torch.randn(1, seq_len, 2 * hidden)  # (B, S, 2H): a bidirectional encoder's outputs
s_prev = torch.randn(1, hidden)  # (B, H)
src_keep = padding_mask(batch, pad_id)  # (B, S): the padded sentence of section 5

e = torch.stack(
    [additive.v_a(torch.tanh(additive.W_a(s_prev[0]) + additive.U_a(annotations[0, j])))[0] for j in range(seq_len)]
)  # (S,): one energy per source position
e = e.masked_fill(~src_keep[0], float("-inf"))
alpha_hand = torch.softmax(e, dim=-1)  # (S,)
context_hand = (alpha_hand[:, None] * annotations[0]).sum(0)  # (2H,)

context, alpha_tk = additive(s_prev, additive.project_keys(annotations), annotations, src_keep)
assert_close(alpha_tk[0], alpha_hand)
assert_close(context[0], context_hand)
assert (alpha_tk[0, ~src_keep[0]] == 0).all()
print("α =", [round(a, 3) for a in alpha_tk[0].tolist()])

fig, ax = plt.subplots(figsize=(6, 2.5))
ax.bar(tokens, alpha_tk[0].detach())
ax.set_ylabel("α")
ax.set_title("one decoder step of additive attention (the last two source positions are padding)", fontsize=9)
plt.show()

# %% [markdown]
# One row of α per decoder step: stacked, the rows make Bahdanau's alignment figure. With untrained weights
# the row is nearly flat; notebook 02 trains the model on the toy corpus and shows the rows becoming a
# word alignment, beside the Transformer's heads.
