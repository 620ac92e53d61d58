"""nmt.translate with workers=1 against workers=2: whole-command wall time, alternating, and whether the outputs match.

    python docs/results/translate-workers/measure.py <run dir> <source file> [repeats]

Writes results.json here: each run's seconds, the medians, their ratio, and the sha256 of each output.
"""

import hashlib
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    run, source = sys.argv[1], sys.argv[2]
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    seconds: dict[int, list[float]] = {1: [], 2: []}
    digests: dict[int, set[str]] = {1: set(), 2: set()}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            for workers in (1, 2):
                out = Path(tmp) / f"out-{workers}.txt"
                cmd = [sys.executable, "-m", "nmt.translate", f"run={run}", f"input={source}", f"output={out}"]
                cmd += ["threads=2", "batch_lines=1000", f"workers={workers}"]
                start = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True)
                seconds[workers].append(round(time.perf_counter() - start, 3))
                digests[workers].add(hashlib.sha256(out.read_bytes()).hexdigest())
    medians = {w: statistics.median(s) for w, s in seconds.items()}
    result = {
        "command": "python -m nmt.translate run=<run> input=<source> output=… threads=2 batch_lines=1000 workers=1|2",
        "run": run,
        "source": source,
        "lines": sum(1 for _ in open(source, encoding="utf-8")),
        "decode": "beam 5 (conf/translate.yaml default)",
        "seconds": seconds,
        "median_seconds": medians,
        "speedup_workers2": round(medians[1] / medians[2], 3),
        "outputs_sha256": {w: sorted(d) for w, d in digests.items()},
        "identical_outputs": len(digests[1] | digests[2]) == 1,
        "platform": platform.platform(),
    }
    (HERE / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
