"""The proxy-run table of README.md, from the files in this folder: python docs/results/multi30k-recipe/table.py

Each proxy (a folder with overrides.yaml) is set against the baseline run of its model (baseline-<model>/,
the published 89-minute de→en run before the change) at the same number of optimiser steps: the best
val BLEU the baseline had reached by the proxy's last step. Steps, not minutes: the baseline runs
trained at fewer steps per minute than the proxies did on the same machine.
"""

import csv
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
IGNORED = ("experiment=", "data.src_lang", "data.tgt_lang", "data.root", "threads=", "enable_progress_bar", "hydra.")


def validations(run: Path) -> list[tuple[int, float, float]]:
    """(step, val BLEU, minutes) of each validation in metrics.csv."""
    rows = csv.DictReader((run / "metrics.csv").open())
    return [(int(r["step"]), float(r["val/bleu"]), float(r["val/wall_time_s"]) / 60) for r in rows if r.get("val/bleu")]


def main() -> None:
    print(
        "| proxy | model | overrides | steps | minutes | last val BLEU "
        "| baseline best val by that step | difference | baseline best val by those minutes (its steps) |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for run in sorted(p for p in HERE.iterdir() if (p / "overrides.yaml").exists()):
        lines = [ln.strip("- \n") for ln in (run / "overrides.yaml").read_text().splitlines() if ln.strip()]
        model = "transformer" if "experiment=multi30k_transformer" in lines else "rnn"
        changes = " ".join(ln for ln in lines if not any(key in ln for key in IGNORED))
        vals = validations(run)
        steps, last, minutes = vals[-1]
        baseline = validations(HERE / f"baseline-{model}")
        base = max(b for s, b, _ in baseline if s <= steps)
        by_time = max((b, s) for s, b, m in baseline if m <= minutes)
        print(
            f"| {run.name} | {model} | `{changes}` | {steps} | {minutes:.1f} | {last:.2f} | {base:.2f} "
            f"| {last - base:+.2f} | {by_time[0]:.2f} ({by_time[1]}) |"
        )


if __name__ == "__main__":
    sys.exit(main())
