"""The project's own error types: bad input or configuration that a user can fix.

Commands turn these (and only these, plus Hydra's instantiation errors that wrap them) into one
line on stderr, ``nmt.<command>: error: <message>``, with no traceback; any other exception is a
bug and keeps its traceback (``HYDRA_FULL_ERROR=1`` shows Hydra's own frames too).

Every message is one line that names the file or config key at fault and the fix.
"""

from __future__ import annotations


class NmtError(ValueError):
    """Bad input or configuration (one-line message naming the file or key and the fix).

    A ``ValueError`` so that code catching ``ValueError`` around parsing keeps working.
    """


class ConfigError(NmtError):
    """A configuration value that cannot work (checked before any data is read)."""
