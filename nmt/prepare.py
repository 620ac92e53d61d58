"""``python -m nmt.prepare data=…``: build a corpus's vocabulary and training store in the cache, once.

``nmt.train`` does the same on first use; running it alone first lets the encoding use several
processes (``workers=``) and keeps a multi-node launch from encoding the corpus once per node.
It prints where the store is, its size and how long preparing took.
"""

from __future__ import annotations

import time

import hydra
from omegaconf import DictConfig, open_dict

from nmt.cli import CONF_DIR, prepare_argv
from nmt.data import build_datamodule
from nmt.errors import one_line_errors


def prepare(cfg: DictConfig) -> dict:
    """Build (or find) the vocabulary and the training store of ``cfg.data``; returns what was made."""
    with open_dict(cfg):
        cfg.data.prepare_workers = int(cfg.workers)
    start = time.perf_counter()
    store = build_datamodule(cfg).prepare_store()
    return {
        "store": str(store.folder),
        "pairs": len(store),
        "dtype": store.dtype.name,
        "shards": len(store.manifest["shards"]),
        "disk_mb": round(store.disk_bytes() / 2**20, 1),
        "seconds": round(time.perf_counter() - start, 1),
    }


@hydra.main(config_path=str(CONF_DIR), config_name="prepare", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors("nmt.prepare"):
        made = prepare(cfg)
    print(
        f"store: {made['store']}\n  {made['pairs']:,} pairs, {made['shards']} shard(s), {made['dtype']} ids, "
        f"{made['disk_mb']} MB on disk, ready in {made['seconds']} s"
    )


def cli() -> None:
    """The ``nmt-prepare`` console script (and ``python -m nmt.prepare``)."""
    prepare_argv("nmt.prepare", "prepare")
    main()


if __name__ == "__main__":
    cli()
