"""nmt: a bidirectional GRU with Bahdanau attention and a Transformer, side by side.

``nmt.load(run_dir)`` returns a ``Translator`` (see ``nmt.api``); it is imported on first use,
so ``import nmt`` stays light (no torch until a model is loaded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Translation", "Translator", "load"]

if TYPE_CHECKING:
    from nmt.api import Translation, Translator, load


def __getattr__(name: str) -> Any:
    if name in __all__:
        from nmt import api

        return getattr(api, name)
    raise AttributeError(f"module 'nmt' has no attribute {name!r}")
