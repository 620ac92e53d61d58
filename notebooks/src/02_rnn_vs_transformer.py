# %% [markdown]
# # 02 · An RNN with Bahdanau attention against a Transformer, on the toy corpus
#
# Both architectures of the toolkit are trained on the same data for the same short time: the
# bidirectional GRU with additive (Bahdanau) attention, and the Transformer. Then we look at what each
# learnt: test BLEU and chrF (with their sacreBLEU signatures), learning curves, the attention of one
# sentence whose German verb moves to the end of a subordinate clause, and how well each model's
# attention matches the **gold word alignments** that the toy corpus comes with.
#
# The toy corpus is English→German from a small grammar with real German word order (`nmt.corpora.toy`).
# "… because the man sees the dog ." becomes "… , weil der Mann den Hund sieht .": the verb crosses the
# object. A model that translates this must attend *out of order*, and that is what we can look for.

# %% tags=["parameters"]
# Parameters (notebooks/execute.py overrides them; the tests use tiny values).
rnn_run = None  # a run folder of a trained RNN to load instead of training (e.g. "runs/toy-en-de/rnn/...")
transformer_run = None  # the same for the Transformer
out_dir = None  # where to train the two runs; None: runs/notebooks/<time>
n_train = 6000  # toy training pairs
n_val = 200  # validation pairs (greedy val BLEU after each epoch)
n_test = 200  # test pairs (BLEU, chrF; the alignment table uses the first n_align)
epochs = {"rnn": 12, "transformer": 18}  # about 2 minutes each on one idle core; same seed, same result
max_minutes = 6.0  # a safety cap per model (trainer.max_time): on a busy machine, fewer epochs then
model_overrides = {  # Hydra overrides per model: sizes that learn the toy corpus in a minute or two on one core
    "rnn": ["model.net.emb_dim=128", "model.net.hidden_dim=128", "model.net.attn_dim=128"],
    "transformer": [
        "model.net.d_model=64",
        "model.net.enc_layers=2",
        "model.net.dec_layers=2",
        "model.net.d_ff=256",
        "model.optimizer.lr=3e-3",
        "model.scheduler.warmup_steps=100",
    ],
}
n_align = 100  # test sentences teacher-forced for the AER / entropy table
threads = 1
seed = 1234

# %%
# %matplotlib inline
import warnings

warnings.filterwarnings("ignore")  # tqdm's hint about ipywidgets, Lightning's about workers and folders: noise here

import csv
import json
import logging
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from hydra import compose, initialize_config_dir
from IPython.display import Markdown, display

import nmt
from nmt.align import (
    AlignedSentence,
    analyse_attention,
    hard_alignment,
    merge_to_words,
    parse_pharaoh,
    table_markdown,
    word_groups,
    word_strings,
)
from nmt.attention_maps import teacher_forced
from nmt.corpora.toy import load_toy
from nmt.figures import attention_grid, attention_heatmap, learning_curves
from nmt.training import train

plt.rcParams.update({"figure.dpi": 72})
torch.set_num_threads(threads)
for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
    logging.getLogger(name).setLevel(logging.ERROR)
logging.getLogger("sacrebleu").setLevel(logging.ERROR)  # its hint about tokenised periods: the toy corpus is tokenised
CONF = Path(nmt.__file__).resolve().parents[1] / "conf"  # the toolkit's Hydra configs
MODELS = ("rnn", "transformer")

# %% [markdown]
# ## 1. Train both models (or load them)
#
# `nmt.training.train(cfg, run_dir)` is what `python -m nmt.train` runs: it composes nothing itself, so we
# compose the same `conf/train.yaml` with Hydra and a few overrides (corpus size, model size, epochs, a
# time limit). Each run folder gets its config, vocabulary, checkpoints, `metrics.csv` and a `results.json`
# with the test scores. Expect one line per model with test BLEU and chrF and their signatures. Given run
# folders in the parameters, this step loads them instead.


# %%
def train_toy(model: str, run_dir: Path) -> Path:
    """Train ``model`` on the toy corpus into ``run_dir`` with this notebook's sizes and time limit."""
    seconds = int(max_minutes * 60)
    overrides = [
        f"model={model}",
        f"data.corpus.n_train={n_train}",
        f"data.corpus.n_val={n_val}",
        f"data.corpus.n_test={n_test}",
        f"trainer.max_epochs={epochs[model]}",
        f"trainer.max_time=00:00:{seconds // 60:02d}:{seconds % 60:02d}",
        "trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false",
        "callbacks.heatmaps=null",
        f"threads={threads}",
        f"seed={seed}",
        *model_overrides[model],
    ]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    train(cfg, run_dir)
    return run_dir


given = {"rnn": rnn_run, "transformer": transformer_run}
base = Path(out_dir) if out_dir else Path("runs/notebooks") / time.strftime("%Y-%m-%d_%H-%M-%S")
run_dirs = {m: Path(given[m]) if given[m] else train_toy(m, base / m) for m in MODELS}
results = {m: json.loads((run_dirs[m] / "results.json").read_text()) for m in MODELS}
for m in MODELS:
    assert results[m]["data"] == "toy", f"{run_dirs[m]}: trained on data={results[m]['data']}; use data=toy"
corpora = {json.dumps(results[m]["config"]["data"]["corpus"], sort_keys=True) for m in MODELS}
assert len(corpora) == 1, "the two runs must be trained and tested on the same toy corpus"

# %% [markdown]
# ## 2. Scores
#
# Test BLEU and chrF of each run's tested weights, decoded with beam search, as `nmt.train` wrote them.
# The signature says exactly how a score was computed (tokeniser, casing, sacreBLEU version): two scores
# are comparable only if their signatures are equal.

# %%
rows = ["| model | parameters | training (s) | steps | test BLEU | test chrF |", "|---|---:|---:|---:|---:|---:|"]
for m in MODELS:
    r = results[m]
    rows.append(
        f"| {m} | {r['params']:,} | {r['train']['wall_time_s']:.0f} | {r['train']['steps']} "
        f"| {r['test']['bleu']:.2f} | {r['test']['chrf']:.2f} |"
    )
display(Markdown("\n".join(rows)))
signatures = {k: {results[m]["test"]["signature"][k] for m in MODELS} for k in ("bleu", "chrf")}
assert all(len(s) == 1 for s in signatures.values()), "both runs' scores must be computed the same way"
for k, s in signatures.items():
    print(f"{k} signature: {s.pop()}")

# %% [markdown]
# ## 3. Learning curves
#
# Validation BLEU (greedy decoding) after each epoch, from each run's `metrics.csv`, against optimiser
# steps and against training time. Expect both to climb fast on a corpus this regular, and the two panels
# to tell different stories: per step and per second are different races, because a step of one model
# costs more time than a step of the other (compare the step counts in the table above).


# %%
def val_curve(run_dir: Path) -> list[tuple[int, float, float]]:
    """(step, wall seconds, val BLEU) of every validation in a run's metrics.csv."""
    with (run_dir / "metrics.csv").open() as f:
        return [
            (int(r["step"]), float(r["val/wall_time_s"] or "nan"), float(r["val/bleu"]))
            for r in csv.DictReader(f)
            if r.get("val/bleu")
        ]


curves = {m: val_curve(run_dirs[m]) for m in MODELS}
fig, (by_step, by_time) = plt.subplots(1, 2, figsize=(10, 3.5), layout="constrained")
learning_curves({m: [(s, b) for s, _, b in c] for m, c in curves.items()}, xlabel="step", ax=by_step)
learning_curves({m: [(w, b) for _, w, b in c] for m, c in curves.items()}, xlabel="training time (s)", ax=by_time)
for m, c in curves.items():
    print(f"{m}: val BLEU " + ", ".join(f"{b:.1f}" for _, _, b in c) + f" (best {max(b for *_, b in c):.1f})")

# %% [markdown]
# ## 4. One sentence with a verb-final clause
#
# We take the first test sentence whose German has a subordinate clause with "weil" (because) and
# **teacher-force** both models on it: the decoder reads the reference German, so every row of the
# attention belongs to a known German word and the gold links apply. Pieces are merged into words
# (attention *summed* over a source word's pieces, *averaged* over a target word's, `nmt.align.merge_to_words`).
# Red squares are the gold links. Expect Bahdanau's α to follow the red squares, and the clause-final
# German verb (bottom rows) to attend back to the English verb in the middle of the clause.

# %%
corpus_cfg = results["rnn"]["config"]["data"]["corpus"]
test = load_toy(**{k: corpus_cfg[k] for k in ("src_lang", "tgt_lang", "seed", "n_train", "n_val", "n_test")}).splits[
    "test"
]
pick = next(i for i, t in enumerate(test.tgt) if ", weil " in t)
src, ref, gold = test.src[pick], test.tgt[pick], test.alignments[pick]
print(f"test sentence {pick}:\n  en: {src}\n  de: {ref}\n  gold links (en-de word indices): {gold}")
translators = {m: nmt.load(run_dirs[m]) for m in MODELS}
for m, t in translators.items():
    print(f"  {m} translates it as: {t.translate([src], beam_size=5)[0]}")


def word_attention(model: str, sources: list[str], targets: list[str]) -> list[tuple[np.ndarray, list[str], list[str]]]:
    """Teacher-forced cross-attention of every layer and head, merged to words: (L, h, T_w, S_w) per sentence."""
    t = translators[model]
    out = []
    for att in teacher_forced(t.model, t.vocab, sources, t.vocab.encode_tgt(targets), self_attention=False):
        src_g, tgt_g = word_groups(att.src_pieces), word_groups(att.tgt_pieces)
        L, h = att.cross.shape[:2]
        words = np.stack([[merge_to_words(att.cross[layer, k], src_g, tgt_g) for k in range(h)] for layer in range(L)])
        out.append((words, word_strings(att.src_pieces), word_strings(att.tgt_pieces)))
    return out


sure, _ = parse_pharaoh(gold)
((rnn_words, src_words, tgt_words),) = word_attention("rnn", [src], [ref])
((tf_words, _, _),) = word_attention("transformer", [src], [ref])
display(attention_heatmap(rnn_words[0, 0], src_words, tgt_words, title="RNN: Bahdanau α", links=sure))
display(attention_grid(tf_words, src_words, tgt_words, title="Transformer: cross-attention, every layer and head"))

# %% [markdown]
# Read the RNN panel row by row: each German word is produced while looking at (mostly) one English word,
# and the bright cells sit on the red squares, including the jumps back for the verbs that German puts
# at the end (the participle of the main clause, the verb of the "weil" clause). In the Transformer's
# grid, compare the rows of panels: layers usually differ more than heads. The first layer's
# cross-attention tends to be spread out (the decoder has read little of its own context yet), the last
# layer's heads are sharp and close to an alignment, each a little different. Which ones align is
# measured over many sentences next.

# %% [markdown]
# ## 5. How well does attention align? AER and entropy against the gold links
#
# For the first `n_align` test sentences, teacher-forced again, each layer and head's word attention is
# turned into links (each German word → the English word it attends to most) and scored with the
# **alignment error rate** (AER, 0 = every link right; `nmt.align.analyse_attention`) and the mean
# **entropy** of its rows (0 nats = all weight on one word). Expect the RNN to have a low AER: its single
# attention *is* its alignment. For the Transformer, look at where the low AERs are: which layer, and
# whether one head or the average of the heads aligns best. Low entropy alone does not mean alignment: a
# head can be sharp and look at the wrong word (compare the two columns).

# %%
n = min(n_align, len(test.src))
table_rows = []
for m in MODELS:
    t = translators[m]
    sents = teacher_forced(t.model, t.vocab, test.src[:n], t.vocab.encode_tgt(test.tgt[:n]), self_attention=False)
    aligned = [
        AlignedSentence(a.cross, a.src_pieces, a.tgt_pieces, g) for a, g in zip(sents, test.alignments[:n], strict=True)
    ]
    table_rows += analyse_attention(aligned, m)
display(Markdown(table_markdown(table_rows)))
best = {m: min((r for r in table_rows if r["model"] == m), key=lambda r: r["aer"]) for m in MODELS}
for m, r in best.items():
    print(f"{m}: lowest AER {r['aer']:.3f} at layer {r['layer']} head {r['head']} (entropy {r['entropy']:.2f} nats)")

# %% [markdown]
# ## 6. Which heads cross the reordering?
#
# A gold link *crosses* another when their order differs between the languages (English word i before i′
# but German word j after j′): the verb of "because the man sees the dog" and "weil der Mann den Hund sieht"
# crosses the object. Below, for every layer and head, the share of the crossing links that its attention
# recovers (argmax links, as in the table above). Expect the heads with a low AER to recover most crossing
# links too, and the heads that attend to punctuation or spread their weight to recover few.


# %%
def crossing(links: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Links whose source order and target order disagree with at least one other link."""
    return {(i, j) for i, j in links if any((i - a) * (j - b) < 0 for a, b in links)}


def crossing_recovered(model: str) -> tuple[np.ndarray, int]:
    """Share of the crossing gold links found by each layer and head's argmax links, and their number."""
    per_sentence = word_attention(model, test.src[:n], test.tgt[:n])
    L, h = per_sentence[0][0].shape[:2]
    found, total = np.zeros((L, h)), 0
    for (words, _, _), line in zip(per_sentence, test.alignments[:n], strict=True):
        cross_links = crossing(parse_pharaoh(line)[0])
        total += len(cross_links)
        for layer in range(L):
            for head in range(h):
                found[layer, head] += len(hard_alignment(words[layer, head], "argmax") & cross_links)
    return found / max(total, 1), total


fig, axes = plt.subplots(1, 2, figsize=(9, 3), layout="constrained", width_ratios=[1, 4])
for ax, m in zip(axes, MODELS, strict=True):
    share, total = crossing_recovered(m)
    ax.imshow(share, cmap="viridis", vmin=0, vmax=1)
    for (layer, head), value in np.ndenumerate(share):
        ax.text(head, layer, f"{value:.2f}", ha="center", va="center", color="w" if value < 0.6 else "k")
    ax.set_xticks(range(share.shape[1]), labels=[str(k + 1) for k in range(share.shape[1])])
    ax.set_yticks(range(share.shape[0]), labels=[str(k + 1) for k in range(share.shape[0])])
    ax.set(xlabel="head", ylabel="layer", title=f"{m}: {total} crossing links")
    top = np.unravel_index(share.argmax(), share.shape)
    print(
        f"{m}: {total} crossing gold links in {n} sentences; most recovered by layer {top[0] + 1} head "
        f"{top[1] + 1}: {share.max():.2f}; by layer: " + "; ".join(" ".join(f"{v:.2f}" for v in row) for row in share)
    )

# %% [markdown]
# What to take away: the RNN's attention is an alignment because it has to be — the decoder gets the
# source only through one weighted sum per step. The Transformer has one attention map per layer and head,
# with residual connections around each, so it can share the job out: some layers' heads align and cross
# the reordering as Bahdanau's α does, while others attend broadly. A single Transformer heatmap is
# therefore no safe picture of "where the model looked"; look at every layer and head, and measure against
# gold alignments where you have them.
