"""The recipe study's proxy table (docs/results/multi30k-recipe/README.md) is printed by its table.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "docs" / "results" / "multi30k-recipe"


def test_proxy_table_is_exactly_what_the_committed_runs_print():
    """No number in the proxy table is typed by hand: table.py must print it line for line from the run files."""
    printed = subprocess.run(
        [sys.executable, str(RECIPE / "table.py")], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    readme = (RECIPE / "README.md").read_text(encoding="utf-8").splitlines()
    start = readme.index(printed[0])
    assert readme[start : start + len(printed)] == printed
    proxies = [run for run in RECIPE.iterdir() if (run / "overrides.yaml").is_file()]
    assert len(proxies) >= 36 and len(printed) == 2 + len(proxies)  # header, rule and one row per proxy
