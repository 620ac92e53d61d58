"""The tables of the README from the files run.sh wrote: beam 5 sentences/s per budget, process count
and model (median over repeats) with the ratio to the base commit, and test BLEU at each budget.

    python docs/results/beam-speed/budget/summarize.py
"""

import hashlib
import json
import re
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = ("transformer", "rnn")
ROWS = {"beam_batched": "1 process (2 threads)", "beam_batched_2proc": "2 processes (1 thread each)"}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def rates(kind: str, key: str, model: str) -> list[float]:
    """sentences/s of the decode row ``key`` in every repeat of ``bench-<kind>-<rep>.json``."""
    files = sorted(p for p in HERE.glob(f"bench-{kind}-*.json") if re.fullmatch(rf"bench-{kind}-\d+\.json", p.name))
    decode = [load(p)["models"][model]["decode"] for p in files]
    return [d[key]["sentences_per_s"] for d in decode if key in d]


def budgets() -> list[int]:
    return sorted(
        {int(m[1]) for p in HERE.glob("bench-shortest-*.json") if (m := re.match(r"bench-shortest-(\d+)-", p.name))}
    )


def main() -> None:
    summary: dict = {}
    print("| setting | " + " | ".join(f"{m} sent/s (× base)" for m in MODELS) + " |")
    print("|---|" + "---:|" * len(MODELS))
    settings = [("base commit 67758ec, budget 4096, 1 process (2 threads)", "base", "beam_batched")]
    settings += [
        (f"main, shortest stop, budget {b}, {label}", f"shortest-{b}", key)
        for b in budgets()
        for key, label in ROWS.items()
    ]
    for label, kind, key in settings:
        cells = []
        for model in MODELS:
            runs, base = rates(kind, key, model), rates("base", "beam_batched", model)
            median, ratio = statistics.median(runs), statistics.median(runs) / statistics.median(base)
            summary.setdefault(model, {})[f"{kind}/{key}"] = {
                "runs": runs,
                "median": median,
                "vs_base": round(ratio, 2),
            }
            cells.append(f"{median:.1f} ({ratio:.2f}×)")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    print("| model | budget | BLEU | BLEU (lc) | chrF | sent/s (2 processes) | hypotheses sha256 |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for model in MODELS:
        for b in budgets():
            e = load(HERE / f"eval-{model}-shortest-{b}.json")
            sha = hashlib.sha256((HERE / "hypotheses" / f"{model}-shortest-{b}.txt").read_bytes()).hexdigest()
            summary.setdefault(model, {})[f"test/shortest-{b}"] = {
                k: e[k] for k in ("bleu", "bleu_lc", "chrf", "sentences_per_s")
            } | {"sha256": sha}
            scores = f"{e['bleu']:.2f} | {e['bleu_lc']:.2f} | {e['chrf']:.2f} | {e['sentences_per_s']:.1f}"
            print(f"| {model} | {b} | {scores} | {sha[:12]} |")
    (HERE / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
