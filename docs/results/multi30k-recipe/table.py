"""The proxy-run table of README.md, from the files in this folder: python docs/results/multi30k-recipe/table.py

Each proxy (a folder with overrides.yaml) is set against a baseline run of its model at the same number of
optimiser steps: the best val BLEU (and the lowest val loss) the baseline had reached by the proxy's last step.
Round 1 (r1-*) is compared with baseline-<model>/, the published 89-minute de→en run before the cooldown;
rounds 2 to 4 with cooldown-de-en-<model>/, the 89-minute de→en run published with the cooldown (2 Dec), which
their config includes; round 5 (r5-*, en→de) with adopted-en-de-<model>/, the en→de run of the adopted recipe
(3 Dec) that it changes one lever of; round 6's bf16 proxy with round 6's fp32 proxy, trained beside it;
round 7 (r7-*, the whole 89-minute en→de protocol in bf16) with adopted-en-de-<model>/ again; round 8 (r8-*, de→en,
the loss through torch.compile and, for the RNN, a tied output layer) with adopted-bf16-de-en-<model>/, the de→en
bf16 pair of round 7; round 9 (r9-*, en→de, the round-8 RNN recipe, with a Transformer repeating round 7's recipe)
with r7-<tf|rnn>-bf16/, the en→de pair it replaces; round 10 (r10-*, en→de, half the batch: 1,024 tokens) with
r9-*, the same recipe at 2,048 tokens on the same host; round 11 (r11-*, en→de, Transformer dropout 0.1, the RNN's
cooldown over the last half) with r9-* too, round 12 (r12-*, en→de, a 5,000-piece vocabulary, on a faster
Xeon host) with r9-* as well, round 13 (r13-*, en→de, the configs as they are, on that Xeon host) with r9-*,
the same configs on the EPYC host (curve.py compares r12 with r13 at equal minutes), and round 14 (r14-*, en→de,
attention and FFN dropout 0.1 for the Transformer, dropout 0.4 for the RNN, on that Xeon host) with r9-* too
(curve.py compares it with r13 by the step), and round 15 (r15-*, en→de, the configs as they are after round 14,
with the RNN's encoder unpacked, on that Xeon host) with r9-*, the pair it replaces in the published table, and
round 16 (r16-*, en→de, sub-layer dropout 0.3 for the Transformer and 0.6 for the RNN, on that Xeon host) with r9-*
too (curve.py compares it with r15, its config but for the dropout), and round 17 (r17-*, en→de, label
smoothing 0.2 for both, on that Xeon host) with r9-* as well (curve.py compares it with r15), and round 18 (r18-*,
en→de, the configs as they are after round 17, on that Xeon host running slower) with r9-* too (its Transformer
repeats r17's to the step, its RNN r15's; curve.py compares them), and round 19 (r19-*, en→de, two Transformer shapes
trained for 30 minutes without the cooldown, side by side) with r18-tf-repeat, whose first 66 minutes had the same
schedule. The overrides.yaml of r8
and r9 give their changes as overrides of the round-7 config (the runs themselves read them from conf/experiment;
their config.yaml has them).
Steps, not minutes: runs sharing the machine with other work train at fewer steps per minute.
"""

import csv
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
IGNORED = ("experiment=", "data.src_lang", "data.tgt_lang", "data.root", "threads=", "enable_progress_bar", "hydra.")


def validations(run: Path) -> list[tuple[int, float, float, float]]:
    """(step, val BLEU, val loss, minutes) of each validation in metrics.csv."""
    rows = csv.DictReader((run / "metrics.csv").open())
    return [
        (int(r["step"]), float(r["val/bleu"]), float(r["val/loss"]), float(r["val/wall_time_s"]) / 60)
        for r in rows
        if r.get("val/bleu")
    ]


def model_of(run: Path) -> str:
    """The run's model, from the experiment its overrides.yaml names."""
    return "transformer" if "experiment=multi30k_transformer" in (run / "overrides.yaml").read_text() else "rnn"


def beam_val(run: Path) -> str:
    """Val BLEU of beam 5 with the length penalty chosen on val, or a dash."""
    found = list(run.glob("length_penalty.json")) + list(run.glob("eval/length_penalty.json"))
    if not found:
        return "—"
    best = max(json.loads(found[0].read_text())["tried"], key=lambda t: t["bleu"])
    return f"{best['bleu']:.2f}"


def baseline_of(run: Path, model: str) -> Path:
    if run.name.startswith("r6-tf-bf16"):
        return HERE / "r6-tf-fp32-30min"  # round 6 is a pair: bf16 against fp32, side by side, 30 minutes
    if run.name.startswith("r1-"):
        return HERE / f"baseline-{model}"
    if run.name.startswith("r19-"):
        return HERE / "r18-tf-repeat"  # the same schedule until its cooldown, and training is deterministic by the step
    if run.name.startswith("r8-"):
        return HERE / f"adopted-bf16-de-en-{model}"
    # en→de, against round 9's pair: the configs as they were then
    if run.name.startswith(("r10-", "r11-", "r12-", "r13-", "r14-", "r15-", "r16-", "r17-", "r18-")):
        return HERE / ("r9-tf-repeat" if model == "transformer" else "r9-rnn-tie-compile-loss")
    if run.name.startswith("r9-"):
        return HERE / ("r7-tf-bf16" if model == "transformer" else "r7-rnn-bf16")  # en→de, round 7's bf16 pair
    adopted = run.name.startswith(("r5-", "r6-", "r7-"))
    return HERE / (f"adopted-en-de-{model}" if adopted else f"cooldown-de-en-{model}")


def main() -> None:
    print(
        "| proxy | model | overrides | steps | minutes | best val BLEU | baseline best val by that step | difference "
        "| lowest val loss (baseline's by that step) | val BLEU, beam 5, penalty chosen on val (baseline's) "
        "| baseline best val by those minutes (its steps) |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    proxies = (p for p in HERE.iterdir() if (p / "overrides.yaml").exists())
    for run in sorted(proxies, key=lambda p: (int(p.name[1:].split("-")[0]), p.name)):  # r2-… before r10-…
        lines = [ln.strip("- \n") for ln in (run / "overrides.yaml").read_text().splitlines() if ln.strip()]
        model = model_of(run)
        changes = " ".join(ln for ln in lines if not any(key in ln for key in IGNORED)) or "none: the config as is"
        vals = validations(run)
        steps, _, _, minutes = vals[-1]
        top = max(v[1] for v in vals)
        loss = min(v[2] for v in vals)
        base_run = baseline_of(run, model)
        baseline = validations(base_run)
        base = max(b for s, b, _, _ in baseline if s <= steps)
        base_loss = min(v for s, _, v, _ in baseline if s <= steps)
        by_time = max((b, s) for s, b, _, m in baseline if m <= minutes)
        print(
            f"| {run.name} | {model} | `{changes}` | {steps} | {minutes:.1f} | {top:.2f} | {base:.2f} "
            f"| {top - base:+.2f} | {loss:.3f} ({base_loss:.3f}) | {beam_val(run)} ({beam_val(base_run)}) "
            f"| {by_time[0]:.2f} ({by_time[1]}) |"
        )


if __name__ == "__main__":
    sys.exit(main())
