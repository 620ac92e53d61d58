"""Request latency of a running attention explorer (``python -m nmt.serve``), with 1 and more concurrent clients.

Usage::

    python -m nmt.serve run=<run dir> port=8000 log_level=warning &
    python -m nmt.bench.explorer_latency url=http://127.0.0.1:8000 clients=[1,20] requests=100 \\
        out=latency.json

Each client sends requests back to back (a new one as soon as its answer arrives) until ``requests``
have been answered at that concurrency level; a request's latency is the time from sending it to
having its whole answer, queueing behind the server's one model worker included. ``/api/translate``
decodes the toy sentences the server offers as examples (or ``sentences=[…]``) with beam 5, the page's
default; ``/api/attention`` reads the cross-attention of each sentence's first hypothesis (head
average of the last layer), as the page does after each translation. Needs httpx (a test extra).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from nmt.cli import CONF_DIR, fail, prepare_argv


def _percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation between order statistics."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


async def _level(client: httpx.AsyncClient, path: str, bodies: list[dict], clients: int, n: int) -> dict[str, Any]:
    """``n`` requests to ``path`` from ``clients`` concurrent clients, cycling through ``bodies``."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    counter = iter(range(n))

    async def one_client() -> None:
        for k in counter:
            start = time.perf_counter()
            response = await client.post(path, json=bodies[k % len(bodies)])
            await response.aread()
            latencies.append(time.perf_counter() - start)
            statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1

    start = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    wall = time.perf_counter() - start
    ms = [x * 1000 for x in latencies]
    return {
        "endpoint": path,
        "clients": clients,
        "requests": len(ms),
        "median_ms": round(statistics.median(ms), 1),
        "p90_ms": round(_percentile(ms, 0.9), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
        "max_ms": round(max(ms), 1),
        "requests_per_s": round(len(ms) / wall, 2),
        "statuses": statuses,
    }


async def measure(url: str, clients: list[int], n: int, sentences: list[str] | None, run: str | None) -> dict:
    """Latencies of /api/translate and /api/attention at each concurrency level (after one warm-up pass)."""
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        info = (await client.get("/api/models")).json()
        label = run or info["models"][0]["label"]
        sentences = sentences or [s for m in info["models"] for s in m["examples"]][:5]
        if not sentences:
            raise SystemExit("no sentences: pass sentences=[…] (the server's runs offer no toy examples)")
        translate = [{"text": s, "strategy": "beam", "beam_size": 5, "runs": [label]} for s in sentences]
        attention = []
        for body in translate:  # the warm-up: each sentence once
            answer = (await client.post("/api/translate", json=body)).json()["results"][0]
            ids = answer["hypotheses"][0]["tgt_ids"]
            attention.append({"text": body["text"], "target_ids": ids, "runs": [label]})
            await client.post("/api/attention", json=attention[-1])
        rows = []
        for c in clients:
            rows.append(await _level(client, "/api/translate", translate, c, n))
            rows.append(await _level(client, "/api/attention", attention, c, n))
    model = next(m for m in info["models"] if m["label"] == label)
    return {"url": url, "model": model, "sentences": sentences, "decode": "beam 5", "rows": rows}


def table(result: dict) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| endpoint | clients | requests | median ms | p90 ms | max ms | requests/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['endpoint']} | {r['clients']} | {r['requests']} | {r['median_ms']} | {r['p90_ms']} "
            f"| {r['max_ms']} | {r['requests_per_s']} |"
        )
    return "\n".join(lines)


# The options before key=value (one more release): --flag -> (key, arity), see nmt.cli.legacy_flags.
FLAGS = {
    "--url": ("url", "1"),
    "--clients": ("clients", "+"),
    "--requests": ("requests", "1"),
    "--sentences": ("sentences", "+"),
    "--run": ("label", "1"),
    "--out": ("out", "1"),
}


@hydra.main(config_path=str(CONF_DIR), config_name="explorer_latency", version_base="1.3")
def main(cfg: DictConfig) -> None:
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None  # other work on the machine skews latency
    sentences = list(cfg.sentences) if cfg.sentences else None
    try:
        result = asyncio.run(measure(cfg.url, list(cfg.clients), cfg.requests, sentences, cfg.label))
    except httpx.HTTPError as err:
        fail("nmt.bench.explorer_latency", f"url={cfg.url}: {err!r}; is python -m nmt.serve running?")
    task = HydraConfig.get().overrides.task if HydraConfig.initialized() else []
    result["command"] = " ".join(["python -m nmt.bench.explorer_latency", *task])
    result["machine"] = {
        "cpus": os.cpu_count(),
        "load_average_1_5_15_min_before": load_before,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    print(table(result))
    if cfg.out:
        out = Path(cfg.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def cli() -> None:
    """The ``nmt-explorer-latency`` console script (and ``python -m nmt.bench.explorer_latency``)."""
    prepare_argv("nmt.bench.explorer_latency", "explorer_latency", text_keys=("url", "out"), flags=FLAGS)
    main()


if __name__ == "__main__":
    cli()
