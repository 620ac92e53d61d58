"""``python -m nmt.bench``: the Hydra entry point over :func:`nmt.bench.bench` (config: conf/bench.yaml)."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from nmt.bench.report import format_profile, format_report
from nmt.bench.suite import bench


@hydra.main(config_path="../../conf", config_name="bench", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        report = bench(cfg)
    except (ValueError, OSError) as err:  # CheckpointError, CorpusError, bad settings: one-line messages
        print(f"nmt.bench: error: {err}", file=sys.stderr)
        sys.exit(2)
    print(format_report(report))
    print(format_profile(report))
    print(f"wrote {report['output']}", file=sys.stderr)


if __name__ == "__main__":
    main()
