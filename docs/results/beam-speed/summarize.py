"""Medians, ratios and hypothesis identity of the before/after measurements: writes summary.json here.

Reads evaluate/*.json and profile/*.json beside it, and the hypotheses files the evaluate JSONs name
(kept in the measuring checkout's runs/measure/; one per model is committed under hypotheses/).

    python docs/results/beam-speed/summarize.py
"""

import hashlib
import json
import statistics
from pathlib import Path

HERE = Path(__file__).parent
summary = {}
for model in ("tf", "rnn"):
    evals = {side: sorted((HERE / "evaluate").glob(f"{model}_{side}_*.json")) for side in ("before", "after")}
    profiles = {side: sorted((HERE / "profile").glob(f"{model}_{side}_*.json")) for side in ("before", "after")}
    if not evals["before"]:
        continue
    row: dict = {}
    for side in ("before", "after"):
        runs = [json.loads(p.read_text()) for p in evals[side]]
        hashes = {hashlib.sha256(Path(r["hypotheses"]).read_bytes()).hexdigest() for r in runs}  # runs/measure/
        profs = [json.loads(p.read_text()) for p in profiles[side]]
        row[side] = {
            "sentences_per_s": [r["sentences_per_s"] for r in runs],
            "median_sentences_per_s": statistics.median(r["sentences_per_s"] for r in runs),
            "bleu": sorted({r["bleu"] for r in runs}),
            "hypotheses_sha256": sorted(hashes),
            "sentences_per_cpu_s": [p["sentences_per_cpu_s"] for p in profs],
            "median_sentences_per_cpu_s": round(statistics.median(p["sentences_per_cpu_s"] for p in profs), 1),
            "rows_stepped_per_sentence": sorted({p["rows_stepped_per_sentence"] for p in profs}),
        }
    b, a = row["before"], row["after"]
    row["ratio_wall"] = round(a["median_sentences_per_s"] / b["median_sentences_per_s"], 2)
    if a["median_sentences_per_cpu_s"] and b["median_sentences_per_cpu_s"]:
        row["ratio_cpu"] = round(a["median_sentences_per_cpu_s"] / b["median_sentences_per_cpu_s"], 2)
    row["identical_hypotheses"] = a["hypotheses_sha256"] == b["hypotheses_sha256"] and len(a["hypotheses_sha256"]) == 1
    summary[model] = row
(HERE / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
print(json.dumps(summary, indent=1))
