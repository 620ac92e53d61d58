# %% [markdown]
# # 03 · Decoding: greedy, beam search and sampling with a temperature
#
# A trained model gives, at every step, a distribution over the next piece: p(y_t | y_<t, x). **Decoding**
# is how a sentence is chosen from those distributions, and every strategy of the toolkit (`nmt.search`)
# picks from that same distribution:
#
# * **greedy** takes the most likely piece at each step;
# * **beam search** keeps the K best partial sentences, and ranks finished ones by log-probability divided
#   by a **length penalty** lp(n) = ((5 + n) / 6)^α;
# * **sampling** draws each piece from softmax(log p / T): a temperature T below 1 sharpens the
#   distribution, above 1 flattens it.
#
# We train (or load) a toy English→German Transformer, look at one step's distribution at several
# temperatures, compare the n-best lists of beam search, measure how diverse samples are, and score each
# strategy with BLEU and chrF.

# %% tags=["parameters"]
# Parameters (notebooks/execute.py overrides them; the tests use tiny values).
run = None  # a trained run folder to load (`make notebooks` passes notebook 02's Transformer); None: train one
out_dir = None  # where to train when run is None; None: runs/notebooks/<time>-decoding
model = "transformer"
n_train = 6000
n_val = 200
n_test = 200
epochs = 18  # as notebook 02's Transformer: about 2 minutes on one idle core
max_minutes = 6.0  # a safety cap (trainer.max_time)
model_overrides = [  # the Transformer of notebook 02
    "model.net.d_model=64",
    "model.net.enc_layers=2",
    "model.net.dec_layers=2",
    "model.net.d_ff=256",
    "model.optimizer.lr=3e-3",
    "model.scheduler.warmup_steps=100",
]
temperatures = [0.25, 0.5, 1.0, 2.0, 4.0]
n_samples = 20  # samples of one sentence per temperature
n_score = 200  # test sentences decoded with each strategy
threads = 1
seed = 1234

# %%
# %matplotlib inline
import warnings

warnings.filterwarnings("ignore")  # tqdm's hint about ipywidgets, Lightning's about workers and folders: noise here

import logging
import math
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from hydra import compose, initialize_config_dir
from IPython.display import Markdown, display

import nmt
from nmt.corpora.toy import load_toy
from nmt.metrics import corpus_scores
from nmt.search import DecodeSettings, length_penalty, max_lengths
from nmt.training import train

plt.rcParams.update({"figure.dpi": 72})
torch.set_num_threads(threads)
for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "sacrebleu"):
    logging.getLogger(name).setLevel(logging.ERROR)
CONF = Path(nmt.__file__).resolve().parents[1] / "conf"

# %% [markdown]
# ## 1. A trained model
#
# With `run` set, the notebook loads that run folder; otherwise it trains one with `nmt.training.train`, as
# notebook 02 does. `nmt.load` returns a `Translator`: the model, its vocabulary, and the decoding API.


# %%
def train_toy(run_dir: Path) -> Path:
    """Train ``model`` on the toy corpus into ``run_dir`` with this notebook's sizes and time limit."""
    seconds = int(max_minutes * 60)
    overrides = [
        f"model={model}",
        f"data.corpus.n_train={n_train}",
        f"data.corpus.n_val={n_val}",
        f"data.corpus.n_test={n_test}",
        f"trainer.max_epochs={epochs}",
        f"trainer.max_time=00:00:{seconds // 60:02d}:{seconds % 60:02d}",
        "trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false",
        "callbacks.heatmaps=null",
        f"threads={threads}",
        f"seed={seed}",
        *model_overrides,
    ]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    train(cfg, run_dir)
    return run_dir


run_dir = (
    Path(run) if run else train_toy(Path(out_dir or f"runs/notebooks/{time.strftime('%Y-%m-%d_%H-%M-%S')}-decoding"))
)
translator = nmt.load(run_dir)
assert translator.config.data.name == "toy", f"{run_dir}: trained on data={translator.config.data.name}; use data=toy"
corpus_cfg = translator.config.data.corpus
test = load_toy(**{k: corpus_cfg[k] for k in ("src_lang", "tgt_lang", "seed", "n_train", "n_val", "n_test")}).splits[
    "test"
]
print(translator)
pick = next((i for i, t in enumerate(test.tgt) if ", weil " in t), 0)
src, ref = test.src[pick], test.tgt[pick]
print(f"test sentence {pick}:\n  source:    {src}\n  reference: {ref}")

# %% [markdown]
# ## 2. One step's distribution, and greedy search built from it
#
# `Translator.next_token(source, prefix, temperature, k)` returns the k most likely next pieces after a
# target prefix, and the entropy of the whole distribution. Taking its most likely piece again and again,
# until the end-of-sentence piece (or the length limit), **is** greedy search: expect the sentence built
# that way to equal `translate(strategy="greedy")` piece for piece. Along the way we record how uncertain
# the model is at each step (entropy in nats at T = 1).

# %%
settings = DecodeSettings()  # the defaults: at most floor(1.5 · source length + 10) pieces, then the end
src_mask = torch.ones(1, len(translator.vocab.encode_src([src])[0]) + 1, dtype=torch.bool)  # (1, S): pieces + EOS
limit = int(max_lengths(src_mask, settings.max_len_a, settings.max_len_b))
prefix, steps = [], []
while len(prefix) < limit:
    step = translator.next_token(src, prefix, temperature=1.0, k=5)
    steps.append(step)
    if step.pieces[0] == "</s>":
        break
    prefix.append(step.ids[0])
greedy = translator.translate([src], strategy="greedy", return_attention=True)[0]
built = translator.vocab.tgt_pieces_from_ids(prefix) + ["</s>"]
assert built == greedy.tgt_pieces, "greedy search must take the top of next_token's distribution at every step"
print("greedy:", greedy.text)
for t, (piece, step) in enumerate(zip(built, steps, strict=False)):  # no step at a forced end
    print(f"  step {t:2d}  {piece:>12s}  p = {step.probs[0]:.3f}  entropy {step.entropy:.3f} nats")
hardest = max(range(len(steps)), key=lambda t: steps[t].entropy)
print(f"the model is least sure at step {hardest} (after: {' '.join(built[:hardest]) or '<start>'})")

# %% [markdown]
# ## 3. The same step at several temperatures
#
# At the step where the model was least sure, the distribution that sampling draws from, at each
# temperature. Expect T = 0.25 to put nearly all mass on the top piece, T = 4 to spread it over many
# pieces, and the entropy to grow with T towards log V (the uniform distribution over the vocabulary).

# %%
at_step = {T: translator.next_token(src, prefix[:hardest], temperature=T, k=8) for T in temperatures}
fig, axes = plt.subplots(1, len(temperatures), figsize=(3 * len(temperatures), 3), sharey=True, layout="constrained")
for ax, (T, nt) in zip(axes, at_step.items(), strict=True):
    ax.bar(range(len(nt.probs)), nt.probs)
    ax.set_xticks(range(len(nt.pieces)), labels=nt.pieces, rotation=60, fontsize=8)
    ax.set_title(f"T = {T}: H = {nt.entropy:.2f}", fontsize=10)
axes[0].set_ylabel("probability")
vocab_size = translator.vocab.tgt_size
entropies = [at_step[T].entropy for T in temperatures]
assert entropies == sorted(entropies), "entropy must grow with the temperature"
assert len({nt.ids[0] for nt in at_step.values()}) == 1, "temperature never changes which piece is most likely"
print("entropy (nats) by temperature:", {T: round(h, 3) for T, h in zip(temperatures, entropies, strict=True)})
print(f"log V = log {vocab_size} = {math.log(vocab_size):.3f} nats (uniform)")

fig, ax = plt.subplots(figsize=(5, 3))
ax.semilogx(temperatures, entropies, "o-", label=f"step {hardest}")
ax.set_xticks(temperatures, labels=[f"{T:g}" for T in temperatures], minor=False)
ax.minorticks_off()
ax.axhline(math.log(vocab_size), color="grey", linestyle="--", label="log V (uniform)")
ax.set(xlabel="temperature T", ylabel="entropy (nats)", title="entropy of the sampling distribution")
ax.legend()
plt.show()

# %% [markdown]
# ## 4. Beam search: the n-best list and the length penalty
#
# Beam search with K = 5 returns up to 5 finished hypotheses, best first. Each has a log-probability (the
# sum of its pieces' log p) and a **score** = log-probability / lp(n), n counting the end piece. Expect the
# score to equal that formula (`nmt.search.length_penalty`), the best hypothesis with α = 0 to be usually at
# least as likely as greedy's, and beam search with K = 1 to be greedy search.

# %%
alphas = [0.0, 0.6, 1.4]
for alpha in alphas:
    nbest = translator.translate([src], strategy="beam", beam_size=5, n_best=5, length_penalty=alpha)[0]
    print(f"length penalty α = {alpha}:")
    for h in nbest:
        n = len(h.tgt_pieces)  # pieces + the end piece
        assert math.isclose(h.score, h.log_prob / length_penalty(n, alpha), rel_tol=1e-5, abs_tol=1e-6)
        print(f"  score {h.score:8.3f}  log p {h.log_prob:8.3f}  {n:2d} pieces  {h.text}")
beam1 = translator.translate([src], strategy="beam", beam_size=1, return_attention=True)[0]
assert beam1.tgt_pieces == greedy.tgt_pieces, "beam search with K = 1 is greedy search"
print(f"greedy: log p {greedy.log_prob:.3f}  {greedy.text}")

# %% [markdown]
# On a sentence the model has learnt well, the n-best list is the best sentence followed by variants that
# change one or two words, each less likely. Compare its top with greedy's sentence: when they differ,
# greedy took a piece that looked best at one step but led to a less likely sentence, and the beam, which
# kept the runner-up, recovered. A larger α divides long hypotheses' (more negative) log-probabilities by
# more, so it favours longer outputs; α = 0 ranks by log-probability alone.

# %% [markdown]
# ## 5. How diverse are samples?
#
# `n_samples` samples of the same sentence at each temperature (`strategy="sample"`, seeded). Expect low
# temperatures to give the greedy sentence almost every time and high ones to give many distinct, mostly
# worse sentences: BLEU of the samples against the reference falls as diversity rises.

# %%
diversity = {}
for T in temperatures:
    samples = translator.translate([src], strategy="sample", n_best=n_samples, temperature=T, seed=seed)[0]
    texts = [s.text for s in samples]
    diversity[T] = {
        "distinct": len(set(texts)),
        "greedy": sum(t == greedy.text for t in texts),
        "bleu": corpus_scores(texts, [ref] * len(texts))["bleu"],
    }
    print(
        f"T = {T:4}: {diversity[T]['distinct']:2d} distinct of {n_samples}, {diversity[T]['greedy']:2d} equal to "
        f"greedy, BLEU {diversity[T]['bleu']:6.2f}; e.g. {texts[-1]}"
    )
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3), layout="constrained")
left.semilogx(temperatures, [d["distinct"] for d in diversity.values()], "o-")
left.set(xlabel="temperature T", ylabel=f"distinct of {n_samples} samples", title="diversity")
right.semilogx(temperatures, [d["bleu"] for d in diversity.values()], "o-")
right.set(xlabel="temperature T", ylabel="BLEU against the reference", title="quality")
for ax in (left, right):
    ax.set_xticks(temperatures, labels=[f"{T:g}" for T in temperatures])
    ax.minorticks_off()
plt.show()

# %% [markdown]
# ## 6. The score of each strategy
#
# The first `n_score` test sentences decoded with each strategy and scored with sacreBLEU (`nmt.metrics`).
# Expect beam search to match or beat greedy by a little, and sampling to lose more the higher its
# temperature: sampling is for variety (e.g. back-translation), not for the single best translation.

# %%
strategies = {
    "greedy": dict(strategy="greedy"),
    "beam 5, α=0.6": dict(strategy="beam", beam_size=5, length_penalty=0.6),
    "beam 5, α=0": dict(strategy="beam", beam_size=5, length_penalty=0.0),
    "sample T=0.5": dict(strategy="sample", temperature=0.5, seed=seed),
    "sample T=1": dict(strategy="sample", temperature=1.0, seed=seed),
}
sources, refs = test.src[:n_score], test.tgt[:n_score]
scores, lines = {}, ["| strategy | BLEU | chrF | words / reference words | seconds |", "|---|---:|---:|---:|---:|"]
for label, options in strategies.items():
    start = time.perf_counter()
    hyps = translator.translate(sources, **options)
    seconds = time.perf_counter() - start
    scores[label] = corpus_scores(hyps, refs)
    ratio = sum(len(h.split()) for h in hyps) / sum(len(r.split()) for r in refs)
    lines.append(
        f"| {label} | {scores[label]['bleu']:.2f} | {scores[label]['chrf']:.2f} | {ratio:.3f} | {seconds:.1f} |"
    )
display(Markdown("\n".join(lines)))
signature = {s["signature"]["bleu"] for s in scores.values()}
assert len(signature) == 1
print(f"{len(sources)} test sentences; BLEU signature {signature.pop()}")
print(f"chrF signature {next(iter(scores.values()))['signature']['chrf']}")

fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(list(scores), [s["bleu"] for s in scores.values()])
ax.set(ylabel="test BLEU", title=f"{len(sources)} toy test sentences")
ax.tick_params(axis="x", labelsize=8)
plt.show()

# %% [markdown]
# Greedy and beam search usually agree on a corpus this regular: its sentences have one right translation,
# and the model puts most of its mass on it. The differences grow with real data (the Multi30k results in
# the README use beam 5 with α chosen on the validation set, `nmt.length_penalty`).
