"""The Batch: padded source and target ids, masks and the shifted target."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.attention import padding_mask


def pad_sequences(seqs: Sequence[Sequence[int]], pad_id: int) -> Tensor:
    """Right-pad lists of ids into one tensor. Shapes: -> (B, max_len) long."""
    out = torch.full((len(seqs), max(len(s) for s in seqs)), pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out


@dataclass
class Batch:
    """One batch of sentence pairs, batch first.

    The source ends in EOS (so it is never empty). The target is shifted here and only here:
    ``tgt_in`` = BOS y_1 … y_n (the decoder's input), ``tgt_out`` = y_1 … y_n EOS (what it
    must predict). Without targets (translation), ``tgt_in``/``tgt_out`` are None.

    Shapes: src, src_mask (B, S); tgt_in, tgt_out (B, T); index (B,) position in the split.
    """

    src: Tensor
    src_mask: Tensor
    index: Tensor
    tgt_in: Tensor | None = None
    tgt_out: Tensor | None = None
    ntokens: int = 0

    @classmethod
    def from_ids(
        cls,
        src: Sequence[Sequence[int]],
        tgt: Sequence[Sequence[int]] | None,
        index: Sequence[int],
        pad_id: int,
        bos_id: int,
        eos_id: int,
    ) -> Batch:
        """Build a batch from unpadded piece ids (no BOS/EOS; they are added here)."""
        src_t = pad_sequences([list(s) + [eos_id] for s in src], pad_id)  # (B, S)
        batch = cls(src=src_t, src_mask=padding_mask(src_t, pad_id), index=torch.as_tensor(list(index)))
        if tgt is not None:
            batch.tgt_in = pad_sequences([[bos_id] + list(t) for t in tgt], pad_id)  # (B, T)
            batch.tgt_out = pad_sequences([list(t) + [eos_id] for t in tgt], pad_id)  # (B, T)
            batch.ntokens = int(batch.tgt_out.ne(pad_id).sum())
        return batch

    def __len__(self) -> int:
        return self.src.size(0)
