"""``python -m nmt.evaluate``: decode a split (or any file pair) with a trained run and score it.

Usage::

    python -m nmt.evaluate run=<run dir> [split=test] [decode=beam|greedy|sample] [decode.beam_size=5]
        [checkpoint=best|last|<path>] [average=N] [src_file=<file> ref_file=<file>]
        [data.root=<local corpus copy>] [hypotheses=<path>] [output=<path.json>] [save=true] [max_len=<pieces>]

It writes the hypotheses (default ``<out>/hypotheses/<set>.<tag>.txt``) and a JSON of scores
(default ``<out>/eval/<set>.<tag>.json``), then prints a one-line summary. ``<out>`` is
``nmt-output/<run's parent>/<run>/`` in the working directory, or the run folder itself with
``save=true`` (``nmt.outputs``): reading a run never writes into it unless asked. ``<tag>`` names the
checkpoint choice and the decoding, e.g. ``beam5-lp0.6``, ``last.greedy``, ``avg5.beam5-lp0.6``.
With ``average=N`` the val split is also decoded (greedy, as nmt.train scored it) and a warning
says when the averaged weights score more than 1 BLEU below the best checkpoint's val BLEU
(``average_check`` in the JSON).

The run's own ``vocab/`` is used: nothing is retrained. The split's text comes from the run's data
config (``data.root=`` and ``cache_dir=`` may point it elsewhere); ``src_file``/``ref_file``
score any line-aligned pair of files (plain or gzip) instead.

The work is done by ``nmt.evaluation`` (a library module, shared with the other commands).
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from nmt.cli import CONF_DIR, prepare_argv
from nmt.errors import one_line_errors
from nmt.evaluation import evaluate, summary


@hydra.main(config_path=str(CONF_DIR), config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors("nmt.evaluate"):
        report = evaluate(cfg)
    print(summary(report))
    print(f"wrote {report['hypotheses']} and {report['output']}", file=sys.stderr)


def cli() -> None:
    """The ``nmt-evaluate`` console script (and ``python -m nmt.evaluate``)."""
    prepare_argv("nmt.evaluate", "evaluate", text_keys=("src_file", "ref_file", "hypotheses", "output"))
    main()


if __name__ == "__main__":
    cli()
