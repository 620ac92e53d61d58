"""What subword sampling (data.sampling) does to Multi30k's training pieces and batches, and what it costs.

    OMP_NUM_THREADS=1 python docs/results/multi30k-recipe/sampling_batches.py --data-root ../shared/data/multi30k \
        --vocab runs/<a multi30k en-de run>/vocab --out docs/results/multi30k-recipe/sampling-batches.json

For each alpha, over one epoch of the en→de training split (29,000 pairs, both sides):

- pieces: the drawn cuts' pieces over the best cut's, and the share of sentences whose cut changed, for
  nmt.subword_sampling's draws and for SentencePiece's own (``encode(enable_sampling=True)``, the same
  distribution from an unseeded generator): the two should agree;
- batch cost (Σ pairs × longer side, the quantity data.max_tokens bounds) of the epoch's batches, three ways:
  the best cut; the draws in batches planned on the best cut's lengths (the first version of data.sampling);
  the draws in batches cut from their own lengths at the same sizes (TokenBucketSampler's epoch_lengths);
- seconds of CPU to draw the epoch: the first epoch (which builds each word's lattice) and a later one.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from pathlib import Path

import numpy as np

from nmt.sampler import TokenBucketSampler
from nmt.subword_sampling import UnigramCuts
from nmt.vocab import Vocab


def lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def every_epoch(lengths: np.ndarray):
    """An ``epoch_lengths`` that gives these lengths whatever the epoch."""
    return lambda _epoch: lengths


def batch_cost(batches: list[np.ndarray], lengths: np.ndarray) -> int:
    return int(sum(len(b) * lengths[b].max() for b in batches))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--vocab", type=Path, required=True, help="a run's vocab/ folder (joint unigram)")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.3, 0.5])
    parser.add_argument("--max-tokens", type=int, default=2048)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    model = Vocab.load(args.vocab).src_model
    text = lines(args.data_root / "train.en.gz") + lines(args.data_root / "train.de.gz")
    half = len(text) // 2
    best_ids = model.encode(text)
    best = np.array([(len(s) + 1, len(t) + 1) for s, t in zip(best_ids[:half], best_ids[half:], strict=True)])
    planned = TokenBucketSampler(best, args.max_tokens, shuffle=True, seed=0)
    out: dict = {"pairs": half, "max_tokens": args.max_tokens, "best_cut_cost": None, "alphas": {}}
    out["best_cut_cost"] = batch_cost([np.array(b) for b in planned.epoch_batches()], best)
    for alpha in args.alphas:
        cuts, rng = UnigramCuts(model, alpha), random.Random(0)
        start = time.process_time()
        drawn = [cuts.draw(line, rng) for line in text]
        first_s = time.process_time() - start
        start = time.process_time()
        [cuts.draw(line, rng) for line in text]
        later_s = time.process_time() - start
        theirs = model.encode(text, enable_sampling=True, alpha=alpha, nbest_size=-1)
        lengths = np.array([(len(s) + 1, len(t) + 1) for s, t in zip(drawn[:half], drawn[half:], strict=True)])
        resorted = TokenBucketSampler(best, args.max_tokens, shuffle=True, seed=0, epoch_lengths=every_epoch(lengths))
        out["alphas"][str(alpha)] = {
            "pieces_over_best": round(sum(map(len, drawn)) / sum(map(len, best_ids)), 4),
            "changed": round(sum(d != b for d, b in zip(drawn, best_ids, strict=True)) / len(text), 4),
            "sentencepiece_pieces_over_best": round(sum(map(len, theirs)) / sum(map(len, best_ids)), 4),
            "sentencepiece_changed": round(sum(d != b for d, b in zip(theirs, best_ids, strict=True)) / len(text), 4),
            "cost_in_best_cut_batches": batch_cost([np.array(b) for b in planned.epoch_batches()], lengths),
            "cost_in_resorted_batches": batch_cost([np.array(b) for b in resorted.epoch_batches()], lengths),
            "draw_cpu_s_first_epoch": round(first_s, 2),
            "draw_cpu_s_later_epoch": round(later_s, 2),
        }
    report = json.dumps(out, indent=2)
    print(report)
    if args.out:
        args.out.write_text(report + "\n")


if __name__ == "__main__":
    main()
