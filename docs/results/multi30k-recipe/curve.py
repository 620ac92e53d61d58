"""A proxy's greedy val BLEU at each validation against its baseline's best by the same step, up to the step
where the baseline's cooldown began (until then the learning rate is the same function of the step in both):

    python docs/results/multi30k-recipe/curve.py r12-tf-vocab5000

The baseline is the one ``table.py`` compares the proxy with. The cooldown's first step is the last logged step
after the peak rate before the rate falls faster than 1/√step: the rate after the warm-up is constant (RNN) or
falls as 1/√step (Transformer), so rate·√step never falls until the linear cooldown begins.

With a second run named, that run is the baseline instead, and the comparison is at equal training minutes over
the whole run (for two runs on the same host, where the learning rate is the same function of the minutes):

    python docs/results/multi30k-recipe/curve.py r12-tf-vocab5000 r13-tf-xeon-baseline

A third argument, ``steps``, compares with that run by the step instead, up to its cooldown (for two runs on the
same host that made different numbers of steps a minute):

    python docs/results/multi30k-recipe/curve.py r14-tf-attn-ffn-dropout r13-tf-xeon-baseline steps
"""

import csv
import itertools
import math
import sys

from table import HERE, baseline_of, model_of, validations


def cooldown_start(run) -> int:
    """The last logged step before the linear cooldown's first fall of the learning rate.

    rate·√step is constant (1/√step decay) or rising (constant rate) before it; 0.3% is below the cooldown's
    fall over one log interval (about 1% at 25 steps) and above rounding.
    """
    rates = [
        (int(r["step"]), float(r["lr-Adam"])) for r in csv.DictReader((run / "metrics.csv").open()) if r.get("lr-Adam")
    ]
    peak = max(rates, key=lambda r: r[1])[0]
    return next(
        s0
        for (s0, r0), (s1, r1) in itertools.pairwise(rates)
        if s1 > peak and r1 * math.sqrt(s1) < 0.997 * r0 * math.sqrt(s0)
    )


def main(name: str, same_host: str | None = None, unit: str = "minutes") -> None:
    run = HERE / name
    if unit not in ("minutes", "steps"):
        raise SystemExit(f"curve.py: the third argument is 'steps' (or 'minutes', the default), not {unit!r}")
    if same_host is None:
        return by_step(run, baseline_of(run, model_of(run)))
    if unit == "steps":
        return by_step(run, HERE / same_host)
    return by_minutes(run, HERE / same_host)


def by_step(run, base_run) -> None:
    """Each validation of ``run`` against ``base_run``'s best val BLEU by the same step, up to its cooldown."""
    baseline, end = validations(base_run), cooldown_start(base_run)
    print(f"{run.name} against {base_run.name} (its cooldown from about step {end})")
    print("| step | val BLEU | baseline's best by that step | difference |")
    print("|---:|---:|---:|---:|")
    for step, bleu, _, _ in validations(run):
        if step > end:
            break
        best = max(b for s, b, _, _ in baseline if s <= step)
        print(f"| {step} | {bleu:.2f} | {best:.2f} | {bleu - best:+.2f} |")


def by_minutes(run, base_run) -> None:
    """Each validation of ``run`` against ``base_run``'s best val BLEU by the same training minutes."""
    baseline = validations(base_run)
    print(f"{run.name} against {base_run.name}, at equal minutes")
    print("| minutes | step | val BLEU | baseline's best by those minutes (its step) | difference |")
    print("|---:|---:|---:|---:|---:|")
    for step, bleu, _, minutes in validations(run):
        earlier = [(b, s) for s, b, _, m in baseline if m <= minutes]
        if not earlier:
            continue
        best, at = max(earlier)
        print(f"| {minutes:.1f} | {step} | {bleu:.2f} | {best:.2f} ({at}) | {bleu - best:+.2f} |")


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
