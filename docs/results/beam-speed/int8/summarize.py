"""The tables of the README from the files run.sh wrote: beam 5 sentences/s (median over repeats, and
the ratio to the base commit), val and test BLEU of each stopping rule and precision, and where the
time goes in each cProfile.

    python docs/results/beam-speed/int8/summarize.py
"""

import hashlib
import json
import re
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = ("transformer", "rnn")
ROWS = {"beam_batched": "1 process (2 threads)", "beam_batched_2proc": "2 processes (1 thread each)"}
# cProfile entries (tottime) by what they are; the int8 matmul is torch.ops.quantized.linear_dynamic
ENTRIES = {
    "matmuls (`linear`; int8: `quantized.linear_dynamic`)": r"_nn\.linear\}|linear_dynamic",
    "`scaled_dot_product_attention`": r"scaled_dot_product_attention",
    "`index_select` (cache reordering)": r"'index_select'",
    "`topk`": r"'topk'",
    "`log_softmax`": r"log_softmax",
    "`cat`": r"torch\.cat\}",
}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def rates(kind: str, key: str, model: str) -> list[float]:
    """sentences/s of the decode row ``key`` in every repeat of ``bench-<kind>-<rep>.json``."""
    decode = [load(p)["models"][model]["decode"] for p in sorted(HERE.glob(f"bench-{kind}-*.json"))]
    return [d[key]["sentences_per_s"] for d in decode if key in d]


def speed_table(summary: dict) -> None:
    print("| setting | " + " | ".join(f"{m} sent/s (× base)" for m in MODELS) + " |")
    print("|---|" + "---:|" * len(MODELS))
    settings = [("base commit 67758ec, exact stop, fp32, 1 process (2 threads)", "base", "beam_batched")]
    settings += [
        (f"main, shortest stop, {p}, {label}", p, key) for p in ("fp32", "int8") for key, label in ROWS.items()
    ]
    for label, kind, key in settings:
        cells = []
        for model in MODELS:
            runs, base = rates(kind, key, model), rates("base", "beam_batched", model)
            median = statistics.median(runs)
            ratio = median / statistics.median(base)
            summary.setdefault(model, {})[f"{kind}/{key}"] = {
                "runs": runs,
                "median": median,
                "vs_base": round(ratio, 2),
            }
            cells.append(f"{median:.1f} ({ratio:.2f}×)")
        print(f"| {label} | " + " | ".join(cells) + " |")


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def bleu_table(summary: dict) -> None:
    print("| model | split | stop | precision | BLEU | BLEU (lc) | chrF | lines unlike fp32 | sent/s (2 processes) |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|")
    for model in MODELS:
        for split in ("val", "test"):
            for stop in ("exact", "shortest"):
                for prec in ("fp32", "int8"):
                    name = f"{model}-{split}-{stop}-{prec}"
                    e, hyps = load(HERE / f"eval-{name}.json"), HERE / "hypotheses" / f"{name}.txt"
                    ref = lines(HERE / "hypotheses" / f"{model}-{split}-{stop}-fp32.txt")
                    differ = sum(a != b for a, b in zip(lines(hyps), ref, strict=True))
                    summary.setdefault(model, {})[f"{split}/{stop}-{prec}"] = {
                        k: e[k] for k in ("bleu", "bleu_lc", "chrf", "sentences_per_s")
                    } | {"lines_unlike_fp32": differ, "sha256": hashlib.sha256(hyps.read_bytes()).hexdigest()}
                    scores = f"{e['bleu']:.2f} | {e['bleu_lc']:.2f} | {e['chrf']:.2f}"
                    print(f"| {model} | {split} | {stop} | {prec} | {scores} | {differ} | {e['sentences_per_s']:.1f} |")


def tottime(profile: dict, pattern: str) -> float:
    """Seconds of self time of the profile's top entries whose function matches ``pattern``."""
    rows = [line.split() for line in profile["profile_top"] if re.search(pattern, line)]
    return sum(float(r[1]) for r in rows if len(r) > 1 and re.fullmatch(r"[\d.]+", r[1]))


def profile_table(summary: dict) -> None:
    labels = ("base", "fp32", "int8")
    for model in MODELS:
        profiles = {k: load(HERE / f"profile-{model}-{k}.json") for k in labels}
        summary.setdefault(model, {})["profile"] = {
            k: {f: p[f] for f in ("cpu_s", "sentences_per_cpu_s", "rows_stepped_per_sentence")}
            for k, p in profiles.items()
        }
        print(f"\n{model}: | base commit | main, shortest, fp32 | main, shortest, int8 |")
        print("|---|---:|---:|---:|")
        for field in ("cpu_s", "sentences_per_cpu_s", "rows_stepped_per_sentence"):
            print(f"| {field} | " + " | ".join(str(profiles[k][field]) for k in labels) + " |")
        for name, pattern in ENTRIES.items():
            cells = []
            for k in labels:
                seconds = tottime(profiles[k], pattern)
                cells.append(f"{seconds:.2f} s ({seconds / profiles[k]['cpu_s']:.0%})" if seconds else "–")
            print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    summary: dict = {}
    speed_table(summary)
    print()
    bleu_table(summary)
    profile_table(summary)
    (HERE / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
