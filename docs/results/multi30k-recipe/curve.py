"""A proxy's greedy val BLEU at each validation against its baseline's best by the same step, up to the step
where the baseline's cooldown began (until then the learning rate is the same function of the step in both):

    python docs/results/multi30k-recipe/curve.py r12-tf-vocab5000

The baseline is the one ``table.py`` compares the proxy with. The cooldown's first step is the first logged
step after the peak rate where the rate falls by more than 3% from one log line to the next (the warm-up's
inverse square root falls by less).
"""

import csv
import itertools
import sys

from table import HERE, baseline_of, validations


def cooldown_start(run) -> int:
    """The last logged step before the linear cooldown's first fall of the learning rate."""
    rates = [
        (int(r["step"]), float(r["lr-Adam"])) for r in csv.DictReader((run / "metrics.csv").open()) if r.get("lr-Adam")
    ]
    peak = max(rates, key=lambda r: r[1])[0]
    return next(s0 for (s0, r0), (s1, r1) in itertools.pairwise(rates) if s1 > peak and r1 < 0.97 * r0)


def main(name: str) -> None:
    run = HERE / name
    model = "transformer" if "experiment=multi30k_transformer" in (run / "overrides.yaml").read_text() else "rnn"
    base_run = baseline_of(run, model)
    baseline, end = validations(base_run), cooldown_start(base_run)
    print(f"{name} against {base_run.name} (its cooldown from about step {end})")
    print("| step | val BLEU | baseline's best by that step | difference |")
    print("|---:|---:|---:|---:|")
    for step, bleu, _, _ in validations(run):
        if step > end:
            break
        best = max(b for s, b, _, _ in baseline if s <= step)
        print(f"| {step} | {bleu:.2f} | {best:.2f} | {bleu - best:+.2f} |")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
