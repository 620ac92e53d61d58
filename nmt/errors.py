"""The project's own error types: bad input or configuration that a user can fix.

Commands turn these (and only these, plus Hydra's instantiation errors that wrap them) into one
line on stderr, ``nmt.<command>: error: <message>``, with no traceback; any other exception is a
bug and keeps its traceback (``HYDRA_FULL_ERROR=1`` shows Hydra's own frames too).

Every message is one line that names the file or config key at fault and the fix.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hydra.errors import InstantiationException


class NmtError(ValueError):
    """Bad input or configuration (one-line message naming the file or key and the fix).

    A ``ValueError`` so that code catching ``ValueError`` around parsing keeps working.
    """


class ConfigError(NmtError):
    """A configuration value that cannot work (checked before any data is read)."""


class CheckpointError(NmtError):
    """A missing, unreadable or mismatched checkpoint or run folder (one-line message)."""


class CompareError(NmtError):
    """Runs that cannot be compared, or folders that are not runs; the message says which and why."""


def is_count(value: Any) -> bool:
    """A whole number >= 1: the test behind every count and token budget a user sets.

    An ``int``, never a ``bool``: Python's ``True`` is the int 1, but ``max_tokens=true`` is a mistake.
    """
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def project_error(err: BaseException) -> NmtError | None:
    """``err`` if it is one of ours, or the one a Hydra ``InstantiationException`` wraps; else None."""
    seen: set[int] = set()
    while isinstance(err, InstantiationException) and id(err) not in seen:
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return err if isinstance(err, NmtError) else None


@contextmanager
def one_line_errors(command: str) -> Iterator[None]:
    """Turn the project's own errors into ``<command>: error: <message>`` on stderr and exit status 2.

    Any other exception passes through with its traceback: it is a bug to report.

    Args:
        command: the name printed first, e.g. ``"nmt.evaluate"``.
    """
    try:
        yield
    except Exception as err:
        ours = project_error(err)
        if ours is None:
            raise
        print(f"{command}: error: {ours}", file=sys.stderr)
        raise SystemExit(2) from None
