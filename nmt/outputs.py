"""Where commands that read a run folder write what they make: outside the run, unless asked.

Run folders are shared, published or read-only, so reading one (``nmt.evaluate``, ``nmt.plot``,
``nmt.length_penalty``) never writes into it by default: files go under
``nmt-output/<run's parent folder>/<run folder>/`` in the working directory (or where ``output=``
says). ``save=true`` writes into the run folder itself (``<run>/eval/``, ``<run>/hypotheses/``,
``<run>/plots/``), which ``make multi30k`` and ``nmt.compare copy_runs=true`` rely on.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_ROOT", "output_dir"]

DEFAULT_ROOT = Path("nmt-output")


def output_dir(run_dir: str | Path, save: bool = False) -> Path:
    """The folder for default outputs read from ``run_dir``: the run itself with ``save``, else in ``nmt-output/``.

    Two path components (e.g. ``transformer/2024-05-01_12-00-00``) keep runs of one experiment apart.
    """
    run_dir = Path(run_dir)
    if save:
        return run_dir
    name = run_dir.resolve()
    return DEFAULT_ROOT / name.parent.name / name.name
