"""What a shorter budget would have bought: the best val BLEU each run had reached by a given training time.

Read from the validation curve of ``metrics.csv`` (``val/bleu`` with ``val/wall_time_s``, the
training wall time at that validation, validation included), so a user with 30 minutes instead of
89 knows what to expect from each model without training again.
"""

from __future__ import annotations

from collections.abc import Sequence

# Minutes of the README's CPU protocol (89 minutes per run) and the quarter hours before it.
PROTOCOL_MINUTES = (15, 30, 45, 60, 89)

Curve = Sequence[tuple[int, float | None, float]]  # (step, wall seconds or None, val BLEU)


def best_by(curve: Curve, seconds: float) -> float | None:
    """The best val BLEU among the validations done within ``seconds`` of training; None if none was."""
    scores = [bleu for _, wall, bleu in curve if wall is not None and wall <= seconds]
    return max(scores) if scores else None


def marks(longest_s: float) -> list[float]:
    """The times (seconds) to read the curves at: the protocol's minutes, or quarters of a shorter run.

    Runs of 15 minutes or more are read at 15, 30, 45, 60 and 89 minutes (those they reached, then
    their end); shorter runs at a quarter, half, three quarters and all of the longest run.
    """
    if longest_s >= PROTOCOL_MINUTES[0] * 60:
        chosen = [m * 60.0 for m in PROTOCOL_MINUTES if m * 60 <= longest_s]
        return chosen if chosen[-1] >= longest_s - 60 else [*chosen, longest_s]
    return [longest_s * q for q in (0.25, 0.5, 0.75, 1.0)]


def _label(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 600 else f"{seconds / 60:.1f} min"


def anytime_table(curves: dict[str, Curve]) -> tuple[list[str], list[list[str]]] | None:
    """Header and rows (one per run) of the best val BLEU by each mark; None when no curve has wall times.

    A cell is empty (``–``) when the run had not validated yet by that time; a run that stopped
    earlier keeps its last best in the later columns (it reached nothing more).
    """
    walls = [wall for curve in curves.values() for _, wall, _ in curve if wall is not None]
    if not walls:
        return None
    times = marks(max(walls))
    header = ["val BLEU reached by", *(_label(t) for t in times)]
    rows = []
    for label, curve in curves.items():
        cells = [best_by(curve, t) for t in times]
        rows.append([label, *("–" if c is None else f"{c:.2f}" for c in cells)])
    return header, rows
