"""``python -m nmt.serve``: the attention explorer, a local page to translate and look inside the models.

Usage::

    python -m nmt.serve run=<run dir>                                  # http://127.0.0.1:8000/
    python -m nmt.serve run=<transformer run> compare=<rnn run> port=8001

The models are loaded once; ``nmt.explorer`` serves the page and its JSON API (see the README's
"Attention explorer" for curl examples). Options and limits are in conf/serve.yaml.
"""

from __future__ import annotations

import socket
import sys

import hydra
import torch
import uvicorn
from omegaconf import DictConfig, OmegaConf

from nmt.api import Translator
from nmt.checkpoint import load_run
from nmt.cli import CONF_DIR, prepare_argv
from nmt.errors import ConfigError
from nmt.explorer import create_app
from nmt.explorer_models import ExplorerModel, Limits

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def load_models(cfg: DictConfig, limits: Limits) -> dict[str, ExplorerModel]:
    """The run (and the compare run) as explorer models by label: the model name (+ the folder when both share it)."""
    folders = [cfg.run] if cfg.get("compare") is None else [cfg.run, cfg.compare]
    runs = [load_run(str(f), cfg.checkpoint, cfg.device) for f in folders]
    names = [str(r.config.model.get("name", "model")) for r in runs]
    labels = [n if names.count(n) == 1 else f"{n} ({r.run_dir.name})" for n, r in zip(names, runs, strict=True)]
    if len(set(labels)) < len(labels):
        labels = [f"{label} #{k + 1}" for k, label in enumerate(labels)]
    return {
        label: ExplorerModel.from_translator(label, Translator.from_run(run), limits)
        for label, run in zip(labels, runs, strict=True)
    }


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, taken before the models load so that a busy port fails at once."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise ConfigError(
            f"host={host} port={port}: cannot listen there ({err.strerror}); pick another port=…"
        ) from None
    return sock


def serve(cfg: DictConfig) -> None:
    """What ``python -m nmt.serve`` does: load, then serve until Ctrl-C."""
    limits = Limits(**OmegaConf.to_container(cfg.limits, resolve=True))
    host, port = str(cfg.host), int(cfg.port)
    sock = listen(host, port)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    models = load_models(cfg, limits)
    if host not in LOCAL_HOSTS:
        print(f"note: serving on {host}: anyone who can reach this machine can use the page", file=sys.stderr)
    print(f"nmt.serve: {', '.join(models)} on http://{host}:{port}/ (Ctrl-C stops)", file=sys.stderr)
    config = uvicorn.Config(create_app(models, limits), log_level=str(cfg.log_level))
    with sock:
        uvicorn.Server(config).run(sockets=[sock])


@hydra.main(config_path=str(CONF_DIR), config_name="serve", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        serve(cfg)
    except (ValueError, OSError) as err:  # CheckpointError, ConfigError, a port in use: one-line messages
        print(f"nmt.serve: error: {err}", file=sys.stderr)
        sys.exit(2)


def cli() -> None:
    """The ``nmt-serve`` console script (and ``python -m nmt.serve``)."""
    prepare_argv("nmt.serve", "serve")
    main()


if __name__ == "__main__":
    cli()
