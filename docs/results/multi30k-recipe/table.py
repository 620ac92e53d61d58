"""The proxy-run table of README.md, from the files in this folder: python docs/results/multi30k-recipe/table.py

Each proxy (a folder with overrides.yaml) is set against a baseline run of its model at the same number of
optimiser steps: the best val BLEU (and the lowest val loss) the baseline had reached by the proxy's last step.
The baseline of each round (baseline_of):

- round 1 (r1-*): baseline-<model>/, the published 89-minute de→en run before the cooldown;
- rounds 2 to 4: cooldown-de-en-<model>/, the 89-minute de→en run published with the cooldown (2 Dec), which
  their config includes;
- round 5 (en→de): adopted-en-de-<model>/, the en→de run of the adopted recipe (3 Dec) that it changes one lever of;
- round 6: its bf16 proxy against its fp32 proxy, trained beside it (30 minutes);
- round 7 (the whole 89-minute en→de protocol in bf16): adopted-en-de-<model>/ again;
- round 8 (de→en, the loss through torch.compile and, for the RNN, a tied output layer):
  adopted-bf16-de-en-<model>/, the de→en bf16 pair of round 7;
- round 9 (en→de, the round-8 RNN recipe, with a Transformer repeating round 7's): r7-<tf|rnn>-bf16/, the en→de
  pair it replaces;
- rounds 10 to 18 (en→de): r9-*, round 9's pair. 10: half the batch (1,024 tokens); 11: Transformer dropout 0.1,
  the RNN's cooldown over the last half; 12: a 5,000-piece vocabulary, on a faster Xeon host; 13: the configs as
  they are, on that Xeon host (curve.py compares r12 with r13 at equal minutes); 14: attention and FFN dropout 0.1
  for the Transformer, dropout 0.4 for the RNN (curve.py compares it with r13 by the step); 15: the configs as they
  are after round 14, the RNN's encoder unpacked, the pair published; 16: sub-layer dropout 0.3 and 0.6; 17: label
  smoothing 0.2; 18: the configs as they are after round 17, in a slower hour (its Transformer repeats r17's to the
  step, its RNN r15's). curve.py compares rounds 16 to 18 with r15 and r17;
- rounds 19 to 21 (en→de, 30 minutes without the cooldown, side by side): r18-<tf|rnn>-repeat, whose first
  66 minutes had the same schedule, and training is deterministic by the step. 19: two Transformer shapes;
  20: a BPE vocabulary for both models; 21: two RNN shapes;
- round 22 (en→de, two full 89-minute RNN runs side by side: round 21's wider embeddings, and those shared by
  source and target): round 15's run of the model (r15-*), the pair then published, trained in an hour of the
  same speed.
- round 23 (en→de, two full 89-minute Transformer runs side by side: the cooldown over the last half, and a
  constant rate of 1e-3 after the warm-up instead of the inverse square root): round 17's Transformer
  (r17-tf-label-smoothing02), the same config trained in an hour of the same speed as rounds 15 and 22.
- round 24 (en→de, two 30-minute Transformer runs side by side, each with its cooldown over the last quarter of
  the 30 minutes: the config, and a constant rate of 1.5e-3 after the warm-up): the config's run of the same
  round (r24-tf-config-30min), trained beside it.
- round 25 (en→de, two full 89-minute Transformer runs side by side: a constant rate of 1.5e-3 and of 2e-3 after
  the warm-up): round 17's Transformer (r17-tf-label-smoothing02), the config's published run; this hour gave
  8–9% more steps than round 17's.
- round 26 (en→de, two 30-minute Transformer runs side by side, as round 24: the config, and label smoothing
  0.3): the config's run of the same round (r26-tf-config-30min), trained beside it.
- round 27 (en→de, two full 89-minute Transformer runs side by side: decoupled weight decay 0.1 on the matrices
  (nmt.optim.adamw), and 250 warm-up steps instead of 500): round 17's Transformer (r17-tf-label-smoothing02).
- round 28 (en→de, a full 89-minute pair side by side: the Transformer with weight decay 0.2, and the RNN config
  as it is): round 27's Transformer (r27-tf-adamw-wd01), whose config it changes one value of, and round 22's
  RNN (r22-rnn-emb512-shared), the config's published run, which training repeats by the step.
- round 29 (en→de, two full 89-minute Transformer runs side by side: the config as it is, and subword sampling
  with alpha 0.3, data.sampling): the sampling run against the config's run beside it (r29-tf-config); that one
  against round 27's (r27-tf-adamw-wd01), the same config in an earlier hour.
- round 30 (en→de, two full 89-minute Transformer runs side by side: the config as it is, and the loss through
  torch.compile, train.compile_loss): as round 29, the compiled-loss run against r30-tf-config and that one
  against r27-tf-adamw-wd01.
- round 31 (en→de, two full 89-minute Transformer runs side by side, each keeping its last 10 checkpoints: the
  config as it is, and dropout 0.15 on the sub-layers instead of 0.2): as round 29, the dropout run against
  r31-tf-config and that one against r27-tf-adamw-wd01.

The overrides.yaml of r8 and r9 give their changes as overrides of the round-7 config (the runs themselves read
them from conf/experiment; their config.yaml has them).
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


def round_of(run: Path) -> int:
    """The round a proxy folder belongs to: 12 for r12-tf-vocab5000."""
    return int(run.name[1:].split("-")[0])


def baseline_of(run: Path, model: str) -> Path:
    """The run a proxy is set against (the module docstring says why)."""
    tf = model == "transformer"
    match round_of(run):
        case 1:
            return HERE / f"baseline-{model}"
        case 2 | 3 | 4:
            return HERE / f"cooldown-de-en-{model}"
        case 6 if run.name.startswith("r6-tf-bf16"):
            return HERE / "r6-tf-fp32-30min"
        case 5 | 6 | 7:
            return HERE / f"adopted-en-de-{model}"
        case 8:
            return HERE / f"adopted-bf16-de-en-{model}"
        case 9:
            return HERE / ("r7-tf-bf16" if tf else "r7-rnn-bf16")
        case 19 | 20 | 21:
            return HERE / ("r18-tf-repeat" if tf else "r18-rnn-repeat")
        case 22:
            return HERE / ("r15-tf-adopted-dropout" if tf else "r15-rnn-unpacked-encoder")
        case 29 | 30 | 31 if tf:  # the lever against the config beside it; the config against its published run
            beside = f"r{round_of(run)}-tf-config"
            return HERE / ("r27-tf-adamw-wd01" if run.name == beside else beside)
        case 28:
            return HERE / ("r27-tf-adamw-wd01" if tf else "r22-rnn-emb512-shared")
        case 23 | 25 | 27 if tf:  # Transformer-only rounds: an RNN folder here stops below, not at a Transformer
            return HERE / "r17-tf-label-smoothing02"
        case 24 | 26 if tf:  # 30-minute rounds: the config's own run, trained beside the proxy
            return HERE / f"r{round_of(run)}-tf-config-30min"
        case n if 10 <= n <= 18:
            return HERE / ("r9-tf-repeat" if tf else "r9-rnn-tie-compile-loss")
        case n:
            raise SystemExit(f"{run.name}: round {n} has no baseline yet; add it to baseline_of in {__file__}")


def main() -> None:
    print(
        "| proxy | model | overrides | steps | minutes | best val BLEU | baseline best val by that step | difference "
        "| lowest val loss (baseline's by that step) | val BLEU, beam 5, penalty chosen on val (baseline's) "
        "| baseline best val by those minutes (its steps) |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    proxies = (p for p in HERE.iterdir() if (p / "overrides.yaml").exists())
    for run in sorted(proxies, key=lambda p: (round_of(p), p.name)):  # r2-… before r10-…
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
