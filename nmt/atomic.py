"""Atomic file writes: a reader (or a run killed mid-write) never sees half a file.

The text goes to a temporary file in the same folder (so the rename stays on one file system),
is flushed and fsync'ed, then ``os.replace``\\ d over the target; the folder is fsync'ed too where
the platform allows, so the rename itself survives a power cut.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch


def _write_atomic(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Let ``write`` fill a temporary file next to ``path``, fsync it, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically, creating the parent folder if needed.

    Args:
        path: the file to write; an existing file is replaced only once the new one is complete.
        text: the whole content.
    """
    data = text.encode("utf-8")
    _write_atomic(path, lambda f: f.write(data))


def save_torch_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save(obj)`` to ``path`` atomically (checkpoints: a kill mid-save keeps the old file)."""
    _write_atomic(path, lambda f: torch.save(obj, f))


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON (non-JSON values via ``str``) to ``path`` atomically.

    Args:
        path: the ``.json`` file to write.
        obj: a JSON-serialisable object (paths and other leftovers are written as strings).
    """
    write_text_atomic(path, json.dumps(obj, indent=2, default=str, ensure_ascii=False) + "\n")


def _fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def publish_folder(tmp: Path, final: Path, marker: str) -> None:
    """Move a finished temporary folder into place (one rename); when another process published the
    same folder first (its ``marker`` file is there), keep theirs and leave ``tmp`` to the caller."""
    try:
        os.replace(tmp, final)
    except OSError:
        if not (final / marker).is_file():
            raise
