"""The table of the README from the files run.sh wrote: beam 5 sentences/s per setting and model
(median over repeats), the ratio to the base commit, and test BLEU of each stopping rule.

    python docs/results/beam-speed/multi30k-en-de/summarize.py
"""

import json
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = ("transformer", "rnn")


def rates(kind: str, key: str, model: str) -> list[float]:
    """sentences/s of ``key`` (a decode row of nmt.bench) in every repeat of ``bench-<kind>-*.json``."""
    out = []
    for path in sorted(HERE.glob(f"bench-{kind}-*.json")):
        decode = json.loads(path.read_text(encoding="utf-8"))["models"][model]["decode"]
        if key in decode:
            out.append(decode[key]["sentences_per_s"])
    return out


def main() -> None:
    rows = [
        ("base commit 67758ec, 1 process (2 threads)", "base", "beam_batched"),
        ("main, exact stop, 1 process (2 threads)", "exact", "beam_batched"),
        ("main, exact stop, 2 processes (1 thread each)", "exact", "beam_batched_2proc"),
        ("main, shortest stop, 1 process (2 threads)", "shortest", "beam_batched"),
        ("main, shortest stop, 2 processes (1 thread each)", "shortest", "beam_batched_2proc"),
        ("main, shortest stop, bf16, 1 process (2 threads)", "bf16", "beam_batched"),
        ("main, shortest stop, bf16, 2 processes (1 thread each)", "bf16", "beam_batched_2proc"),
    ]
    summary: dict = {}
    print("| setting | " + " | ".join(f"{m} sent/s (× base)" for m in MODELS) + " |")
    print("|---|" + "---:|" * len(MODELS))
    for label, kind, key in rows:
        cells = []
        for model in MODELS:
            runs, base = rates(kind, key, model), rates("base", "beam_batched", model)
            if not runs or not base:
                cells.append("–")
                continue
            median, ratio = statistics.median(runs), statistics.median(runs) / statistics.median(base)
            summary.setdefault(model, {})[f"{kind}/{key}"] = {
                "runs": runs,
                "median": median,
                "vs_base": round(ratio, 2),
            }
            cells.append(f"{median:.1f} ({ratio:.2f}×)")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    print("| model | decoding | BLEU | BLEU (lc) | chrF | sent/s (2 processes) |")
    print("|---|---|---:|---:|---:|---:|")
    for model in MODELS:
        for stop in ("exact", "shortest", "shortest-bf16"):
            path = HERE / f"eval-{model}-{stop}.json"
            if path.exists():
                e = json.loads(path.read_text(encoding="utf-8"))
                summary.setdefault(model, {})[f"test/{stop}"] = {
                    k: e[k] for k in ("bleu", "bleu_lc", "chrf", "sentences_per_s")
                }
                scores = f"{e['bleu']:.2f} | {e['bleu_lc']:.2f} | {e['chrf']:.2f} | {e['sentences_per_s']:.1f}"
                print(f"| {model} | {stop} | {scores} |")
    (HERE / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
