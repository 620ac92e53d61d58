"""How to decode: ``DecodeSettings``, the fields of a ``conf/decode/*.yaml`` file (``nmt.search`` re-exports it)."""

from __future__ import annotations

from dataclasses import dataclass

from nmt.errors import ConfigError

STRATEGIES = ("greedy", "beam", "sample")
STOPPING = ("exact", "shortest")  # when a sentence's beam search ends (the rules: nmt.beam)
PRECISIONS = ("fp32", "bf16", "int8")  # the model's matmuls while decoding; scores are always summed in fp32


@dataclass(frozen=True)
class DecodeSettings:
    """How to decode; the fields of a ``conf/decode/*.yaml`` file.

    Args:
        strategy: "greedy", "beam" or "sample".
        beam_size: K, beams per sentence (beam).
        length_penalty: GNMT alpha, lp(n) = ((5 + n) / 6) ** alpha; 0 ranks by log-probability (beam).
        n_best: hypotheses returned per sentence, ≤ beam_size (beam; greedy and sample return 1).
        max_len_a, max_len_b: at most floor(a · source length + b) tokens per hypothesis.
        temperature: logits are divided by it before sampling (> 0; → 0 approaches greedy).
        top_k: sample among the k most likely pieces only; 0 keeps them all.
        seed: seeds the sampling generator; None draws from torch's global generator.
        stopping: when a sentence's beam search ends (beam): "exact" (never changes the result) or
            "shortest" (faster; assumes each live beam ends at its shortest completion, see ``nmt.beam``).
        precision: "fp32", or "bf16": the model runs under ``torch.autocast`` in bfloat16 (faster on CPUs
            and GPUs with bf16 units; the log-probabilities and scores stay fp32, hypotheses may differ),
            or "int8": every Linear layer runs with 8-bit integer weights and inputs (CPUs only, ``nmt.int8``;
            the fastest on CPUs, hypotheses may differ).
    """

    strategy: str = "greedy"
    beam_size: int = 5
    length_penalty: float = 0.6
    n_best: int = 1
    max_len_a: float = 1.5
    max_len_b: int = 10
    temperature: float = 1.0
    top_k: int = 0
    seed: int | None = None
    stopping: str = "exact"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        checks = [
            (self.strategy in STRATEGIES, f"strategy must be one of {STRATEGIES}, got {self.strategy!r}"),
            (self.beam_size >= 1, f"beam_size must be >= 1, got {self.beam_size}"),
            (1 <= self.n_best <= self.beam_size, f"n_best must be in [1, beam_size], got {self.n_best}"),
            (self.max_len_a >= 0 and self.max_len_b >= 0, "max_len_a and max_len_b must be >= 0"),
            (self.temperature > 0, f"temperature must be > 0 (use greedy for 0), got {self.temperature}"),
            (self.top_k >= 0, f"top_k must be >= 0 (0 disables it), got {self.top_k}"),
            (self.stopping in STOPPING, f"stopping must be one of {STOPPING}, got {self.stopping!r}"),
            (self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {self.precision!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"decode settings (conf/decode/*.yaml or decode.* overrides): {message}")
