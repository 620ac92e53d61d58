"""Prepared corpora: SentencePiece ids in memory-mapped files, read lazily, for data larger than memory.

A store holds one split's sentence pairs as piece ids (no BOS/EOS), encoded once and read back
without loading the corpus: the operating system pages in only the pairs a batch needs. Its folder::

    manifest.json              written last: version, pair count, dtype, shards, what was encoded
    lengths.bin                (N, 2) pieces per pair (source, target): all the sampler needs
    shard-00000/src.bin        the source ids of the shard's pairs, back to back
    shard-00000/tgt.bin        the target ids
    shard-00000/offsets.bin    (n + 1, 2) int64: where each pair starts in src.bin / tgt.bin
    ...

Why raw numpy memmaps rather than Arrow or HDF5: the data is two ragged int arrays and an offset
table, which flat binary files describe completely; numpy (already a dependency) maps them with
``np.memmap`` in any process, including DataLoader workers, at no cost, and the format can be read
by anything that reads bytes. Ids are ``uint16`` when every vocabulary is below 65,536 pieces
(half the disk and page cache of int32), else ``int32``. Shards bound the size of one file and keep
appends sequential; pairs are numbered globally, in split order, across shards.

Stores live in ``<cache_dir>/store/<key>/`` where the key hashes the split's text fingerprint and
the SentencePiece models, so a run reuses what an earlier run (or ``python -m nmt.prepare``)
encoded. A store is written into a temporary folder, its manifest last, and renamed into place:
a crash never leaves a half-written store that looks complete, and concurrent writers (one per
node) do not corrupt each other.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import json
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from tqdm.auto import tqdm

from nmt.atomic import publish_folder
from nmt.errors import NmtError
from nmt.vocab import Vocab

STORE_VERSION = 1
MANIFEST = "manifest.json"
SHARD_PAIRS = 1_000_000  # pairs per shard: ~30-60 MB of uint16 ids per side at WMT lengths
CHUNK_PAIRS = 4096  # pairs per encoding task sent to a worker process
_WORKER_VOCAB: Vocab | None = None  # the vocabulary of an encoding worker process


class StoreError(NmtError):
    """A damaged or incomplete store. The message names the folder and says to delete it."""


def store_key(split_fingerprint: str, vocab: Vocab) -> str:
    """SHA-256 naming a store: the split's text (its fingerprint), the models that cut it, the format."""
    payload = json.dumps(
        {"split": split_fingerprint, "vocab": vocab.model_digest(), "version": STORE_VERSION}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def id_dtype(vocab: Vocab) -> np.dtype:
    """The smallest id type that holds every piece of both sides: uint16 below 65,536 pieces."""
    return np.dtype(np.uint16 if max(vocab.src_size, vocab.tgt_size) <= 65536 else np.int32)


# ----------------------------------------------------------------------------- encoding
def _init_worker(vocab_folder: str) -> None:
    global _WORKER_VOCAB
    _WORKER_VOCAB = Vocab.load(vocab_folder)


def _encode_chunk(
    vocab: Vocab, pairs: list[tuple[str, str]], dtype: np.dtype, threads: int = -1
) -> tuple[np.ndarray, ...]:
    """Ids of a chunk of pairs as flat arrays and per-pair lengths: (src ids, tgt ids, (n, 2) lengths).

    ``threads``: SentencePiece's threads (-1: every core, as in one process; a worker process uses 1).
    """
    src = vocab.encode_src([s for s, _ in pairs], num_threads=threads)
    tgt = vocab.encode_tgt([t for _, t in pairs], num_threads=threads)
    lengths = np.array([(len(s), len(t)) for s, t in zip(src, tgt, strict=True)], dtype=np.int64).reshape(-1, 2)
    flat = [
        np.fromiter(itertools.chain.from_iterable(side), dtype=dtype, count=int(n))
        for side, n in ((src, lengths[:, 0].sum()), (tgt, lengths[:, 1].sum()))
    ]
    return flat[0], flat[1], lengths


def _encode_in_worker(task: tuple[list[tuple[str, str]], str]) -> tuple[np.ndarray, ...]:
    pairs, dtype = task
    assert _WORKER_VOCAB is not None, "worker started without _init_worker"
    return _encode_chunk(_WORKER_VOCAB, pairs, np.dtype(dtype), threads=1)  # the processes are the parallelism


def _chunks(pairs: Iterable[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    chunk: list[tuple[str, str]] = []
    for pair in pairs:
        chunk.append(pair)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _ShardWriter:
    """Appends encoded chunks to the shard files, starting a new shard every ``shard_pairs`` pairs."""

    def __init__(self, folder: Path, shard_pairs: int) -> None:
        self.folder, self.shard_pairs = folder, shard_pairs
        self.shards: list[dict[str, int]] = []
        self.lengths = (folder / "lengths.bin").open("wb")
        self.files: dict[str, BinaryIO] = {}
        self.ends = np.zeros(2, dtype=np.int64)  # ids written to the open shard's src / tgt

    def _open_shard(self) -> None:
        self._close_shard()
        shard = self.folder / f"shard-{len(self.shards):05d}"
        shard.mkdir()
        self.files = {name: (shard / f"{name}.bin").open("wb") for name in ("src", "tgt", "offsets")}
        self.ends[:] = 0
        np.zeros((1, 2), dtype=np.int64).tofile(self.files["offsets"])
        self.shards.append({"pairs": 0, "src_ids": 0, "tgt_ids": 0})

    def _close_shard(self) -> None:
        for f in self.files.values():
            _close_durably(f)
        self.files = {}

    def write(self, src: np.ndarray, tgt: np.ndarray, lengths: np.ndarray) -> None:
        """Append a chunk of pairs, splitting it where a shard fills up."""
        while len(lengths):
            if not self.shards or self.shards[-1]["pairs"] >= self.shard_pairs:
                self._open_shard()
            room = self.shard_pairs - self.shards[-1]["pairs"]
            if room < len(lengths):  # split the flat ids where the room ends
                cut = lengths[:room].sum(axis=0)
                self._append(src[: cut[0]], tgt[: cut[1]], lengths[:room])
                src, tgt, lengths = src[cut[0] :], tgt[cut[1] :], lengths[room:]
            else:
                self._append(src, tgt, lengths)
                return

    def _append(self, src: np.ndarray, tgt: np.ndarray, lengths: np.ndarray) -> None:
        offsets = self.ends + np.cumsum(lengths, axis=0)  # (n, 2)
        src.tofile(self.files["src"])
        tgt.tofile(self.files["tgt"])
        offsets.astype(np.int64).tofile(self.files["offsets"])
        lengths.astype(np.int32).tofile(self.lengths)
        self.ends = offsets[-1].copy()
        shard = self.shards[-1]
        shard["pairs"] += len(lengths)
        shard["src_ids"], shard["tgt_ids"] = int(self.ends[0]), int(self.ends[1])

    def close(self) -> None:
        self._close_shard()
        _close_durably(self.lengths)


def _close_durably(f: BinaryIO) -> None:
    """Flush and fsync before closing: the folder's rename must not outrun its files' data."""
    f.flush()
    os.fsync(f.fileno())
    f.close()


def write_store(
    pairs: Iterable[tuple[str, str]],
    vocab: Vocab,
    vocab_folder: str | os.PathLike | None,
    folder: str | os.PathLike,
    total: int | None = None,
    workers: int = 0,
    shard_pairs: int = SHARD_PAIRS,
    describe: dict[str, Any] | None = None,
) -> Path:
    """Encode ``pairs`` into a store at ``folder`` (atomically; an existing complete store is kept).

    Args:
        pairs: (source text, target text) in split order; read once, as a stream.
        vocab: the vocabulary that cuts the text.
        vocab_folder: a folder ``Vocab.load`` reads (the cache entry); needed when ``workers`` > 1.
        folder: the store's final folder.
        total: the number of pairs when known, for the progress bar.
        workers: encoding processes; 0 or 1 encodes in this process.
        shard_pairs: pairs per shard.
        describe: extra facts recorded in the manifest (corpus, split, fingerprint).

    Returns:
        ``folder``.
    """
    final = Path(folder)
    if (final / MANIFEST).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".tmp-{final.name[:12]}-"))
    dtype = id_dtype(vocab)
    try:
        writer = _ShardWriter(tmp, shard_pairs)
        with tqdm(total=total, desc="encoding", unit=" pairs", unit_scale=True, disable=None) as bar:
            for src, tgt, lengths in _encoded(pairs, vocab, vocab_folder, dtype, workers):
                writer.write(src, tgt, lengths)
                bar.update(len(lengths))
        writer.close()
        manifest = {
            "version": STORE_VERSION,
            "pairs": sum(s["pairs"] for s in writer.shards),
            "dtype": dtype.name,
            "shards": writer.shards,
            **(describe or {}),
        }
        with (tmp / MANIFEST).open("wb") as f:  # last: its presence marks a whole store
            f.write((json.dumps(manifest, indent=2) + "\n").encode())
            _close_durably(f)
        publish_folder(tmp, final, MANIFEST)  # or theirs, when another process finished it first
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _encoded(
    pairs: Iterable[tuple[str, str]], vocab: Vocab, vocab_folder: Any, dtype: np.dtype, workers: int
) -> Iterator[tuple[np.ndarray, ...]]:
    """Encoded chunks in order: in this process, or in ``workers`` processes (ordered ``imap``)."""
    if workers <= 1:
        for chunk in _chunks(pairs, CHUNK_PAIRS):
            yield _encode_chunk(vocab, chunk, dtype)
        return
    if vocab_folder is None:
        raise ValueError("write_store(workers > 1) needs vocab_folder, which the worker processes load")
    # fork where there is one: workers start at once and never import torch or run CUDA code (they
    # only call SentencePiece), which is what makes forking a process that holds them safe.
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(str(vocab_folder),)) as pool:
        # At most 2 chunks per worker in flight (Pool.imap would read the whole corpus ahead into its
        # task queue); results come back in order.
        pending: collections.deque = collections.deque()
        for chunk in _chunks(pairs, CHUNK_PAIRS):
            pending.append(pool.apply_async(_encode_in_worker, ((chunk, dtype.name),)))
            if len(pending) >= 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


# ----------------------------------------------------------------------------- reading
class Store:
    """A prepared split, read lazily: ``store[k]`` is pair k's (source ids, target ids).

    Only the manifest and the shard start table are read when opening; ``lengths`` is a memory
    map (the sampler's input), and the id files are mapped on first access in each process (a
    pickled store, as DataLoader workers get it, reopens its maps instead of copying them).
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        path = self.folder / MANIFEST
        try:
            self.manifest = json.loads(path.read_text())
            version, self.pairs = self.manifest["version"], int(self.manifest["pairs"])
            self.dtype = np.dtype(self.manifest["dtype"])
            shard_pairs = [int(s["pairs"]) for s in self.manifest["shards"]]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise StoreError(f"{path}: unreadable store manifest ({err}); delete {self.folder} to rebuild it") from None
        if version != STORE_VERSION:
            raise StoreError(f"{path}: store version {version}, expected {STORE_VERSION}; delete {self.folder}")
        self.starts = np.concatenate([[0], np.cumsum(shard_pairs, dtype=np.int64)])  # (shards + 1,)
        self._check_sizes()
        self._maps: list[dict[str, np.ndarray]] | None = None
        self._lengths: np.ndarray | None = None

    def _check_sizes(self) -> None:
        """Every file has the size its manifest entry implies (a truncated copy is refused)."""
        expected = {self.folder / "lengths.bin": self.pairs * 2 * 4}
        for s, shard in enumerate(self.manifest["shards"]):
            d = self._shard_dir(s)
            expected[d / "offsets.bin"] = (shard["pairs"] + 1) * 2 * 8
            expected[d / "src.bin"] = shard["src_ids"] * self.dtype.itemsize
            expected[d / "tgt.bin"] = shard["tgt_ids"] * self.dtype.itemsize
        for path, size in expected.items():
            actual = path.stat().st_size if path.is_file() else None
            if actual != size:
                raise StoreError(
                    f"{path}: {'missing' if actual is None else f'{actual} bytes'}, expected {size}; "
                    f"the store is damaged: delete {self.folder} to rebuild it"
                )

    def _shard_dir(self, s: int) -> Path:
        return self.folder / f"shard-{s:05d}"

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_maps": None, "_lengths": None}

    def __len__(self) -> int:
        return self.pairs

    @property
    def lengths(self) -> np.ndarray:
        """(N, 2) int32 memory map: source and target pieces of every pair (no EOS/BOS)."""
        if self._lengths is None:
            self._lengths = _map(self.folder / "lengths.bin", np.int32, (self.pairs, 2))
        return self._lengths

    def _shard(self, s: int) -> dict[str, np.ndarray]:
        if self._maps is None:
            self._maps = [{} for _ in range(len(self.starts) - 1)]
        maps = self._maps[s]
        if not maps:
            d, info = self._shard_dir(s), self.manifest["shards"][s]
            maps["offsets"] = _map(d / "offsets.bin", np.int64, (info["pairs"] + 1, 2))
            maps["src"] = _map(d / "src.bin", self.dtype, (info["src_ids"],))
            maps["tgt"] = _map(d / "tgt.bin", self.dtype, (info["tgt_ids"],))
        return maps

    def __getitem__(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Pair ``k``'s source and target ids (views into the maps; copy to keep them)."""
        if not 0 <= k < self.pairs:
            raise IndexError(f"pair {k} is not in this store of {self.pairs} pairs")
        s = int(np.searchsorted(self.starts, k, side="right")) - 1
        maps = self._shard(s)
        (s0, t0), (s1, t1) = maps["offsets"][k - self.starts[s] : k - self.starts[s] + 2]
        return maps["src"][s0:s1], maps["tgt"][t0:t1]

    def disk_bytes(self) -> int:
        """The store's size on disk."""
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())


def _map(path: Path, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A read-only memory map (an empty array for an empty file, which mmap cannot map)."""
    if int(np.prod(shape)) == 0:
        return np.zeros(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=shape)
