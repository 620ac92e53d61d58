"""``python -m nmt.bench``: the Hydra entry point over :func:`nmt.bench.bench` (config: conf/bench.yaml)."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from nmt.bench.report import format_profile, format_report
from nmt.bench.suite import bench
from nmt.cli import CONF_DIR, prepare_argv
from nmt.errors import one_line_errors


@hydra.main(config_path=str(CONF_DIR), config_name="bench", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors("nmt.bench"):
        report = bench(cfg)
    print(format_report(report))
    print(format_profile(report))
    print(f"wrote {report['output']}", file=sys.stderr)


def cli() -> None:
    """The ``nmt-bench`` console script (and ``python -m nmt.bench``)."""
    prepare_argv("nmt.bench", "bench")
    main()


if __name__ == "__main__":
    cli()
