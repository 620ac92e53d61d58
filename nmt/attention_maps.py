"""Attention maps of sentence pairs: every weight a model computes for a source and a target, as arrays.

Library code shared by the ``nmt.plot`` command, the training heatmap callback, ``nmt.compare`` and the
attention explorer (``nmt.serve``):

* ``teacher_forced`` runs a model on (source, target ids) pairs and keeps its cross-attention and, for the
  Transformer, its encoder and decoder self-attention, trimmed to each sentence (``SentenceAttention``);
* ``translate_ids`` gives the model's own translations as target ids, to be read back teacher-forced (the
  model computes the same weights as during search: incremental == full);
* ``to_words`` merges piece attention into word attention for every layer and head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from nmt.align import WORD_START, merge_to_words, word_groups
from nmt.api import translate_batches
from nmt.batch import Batch
from nmt.models.base import Seq2Seq, eval_mode
from nmt.search import DecodeSettings
from nmt.vocab import Vocab

BOS_PIECE, EOS_PIECE = "<s>", "</s>"


@dataclass
class SentenceAttention:
    """Every attention weight of one sentence pair, trimmed to its real lengths.

    Rows of ``cross`` and ``decoder`` are the output pieces (the target + "</s>"); columns of ``cross``
    and ``encoder`` are the source pieces + "</s>"; columns of ``decoder`` are the decoder's inputs
    ("<s>" + the target, see ``dec_inputs``).

    ``cross_name`` is the model's name for its cross-attention (``Seq2Seq.cross_attention_name``).

    Shapes: cross (L, h, T, S); encoder (L, h, S, S) or None; decoder (L, h, T, T) or None.
    """

    src_pieces: list[str]
    tgt_pieces: list[str]
    cross: np.ndarray
    encoder: np.ndarray | None = None
    decoder: np.ndarray | None = None
    cross_name: str = "cross-attention"

    @property
    def dec_inputs(self) -> list[str]:
        """What the decoder reads at each row: BOS, then the target shifted by one."""
        return [BOS_PIECE, *self.tgt_pieces[:-1]]

    def view(self, kind: str) -> tuple[np.ndarray, list[str], list[str]] | None:
        """One kind of attention with its labels: (weights (L, h, R, C), column labels, row labels).

        ``kind`` is "cross", "encoder" or "decoder"; None when the model has no such attention (the RNN
        has no self-attention) or it was not kept.
        """
        views = {
            "cross": (self.cross, self.src_pieces, self.tgt_pieces),
            "encoder": (self.encoder, self.src_pieces, self.src_pieces),
            "decoder": (self.decoder, self.dec_inputs, self.tgt_pieces),
        }
        if kind not in views:
            raise ValueError(f"attention kind {kind!r}: use one of {list(views)}")
        weights, cols, rows = views[kind]
        return None if weights is None else (weights, list(cols), list(rows))


def is_bahdanau(att: SentenceAttention) -> bool:
    """True for one layer, one head and no self-attention (the RNN); needs ``teacher_forced(self_attention=True)``."""
    return att.encoder is None and att.decoder is None and att.cross.shape[:2] == (1, 1)


def _chunks(src_ids: list[list[int]], batch_size: int) -> list[list[int]]:
    """Sentence indices in batches of similar source length (little padding)."""
    order = sorted(range(len(src_ids)), key=lambda k: len(src_ids[k]))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _numpy(x: torch.Tensor | None) -> np.ndarray | None:
    return None if x is None else x.detach().float().cpu().numpy()


def teacher_forced(
    model: Seq2Seq,
    vocab: Vocab,
    sources: Sequence[str],
    targets: Sequence[Sequence[int]],
    batch_size: int = 32,
    self_attention: bool = True,
    progress: bool = False,
) -> list[SentenceAttention]:
    """Run ``model`` teacher-forced on (source text, target ids) pairs and keep the attention weights.

    The model is put in eval mode for the pass and given back in the mode it was in.

    Shapes:
        per batch: src (B, S), tgt_in (B, T) -> Attention.cross (B, L, h, T, S), sliced per sentence
        to (L, h, T_k, S_k) with T_k = target pieces + 1 (EOS), S_k = source pieces + 1 (EOS).
    """
    src_ids = vocab.encode_src(list(sources))
    out: list[SentenceAttention | None] = [None] * len(src_ids)
    device = next(model.parameters()).device
    with eval_mode(model), torch.inference_mode():
        for chunk in tqdm(_chunks(src_ids, batch_size), desc="attention", unit="batch", disable=not progress):
            batch = Batch.from_ids(
                [src_ids[k] for k in chunk],
                [targets[k] for k in chunk],
                chunk,
                model.pad_id,
                model.bos_id,
                model.eos_id,
            )
            _, attn = model(batch.src.to(device), batch.src_mask.to(device), batch.tgt_in.to(device), True)
            for b, k in enumerate(chunk):
                S, T = len(src_ids[k]) + 1, len(targets[k]) + 1
                encoder = attn.encoder[b, :, :, :S, :S] if self_attention and attn.encoder is not None else None
                decoder = attn.decoder[b, :, :, :T, :T] if self_attention and attn.decoder is not None else None
                out[k] = SentenceAttention(
                    [*vocab.src_pieces(sources[k]), EOS_PIECE],
                    [*vocab.tgt_pieces_from_ids(targets[k]), EOS_PIECE],
                    _numpy(attn.cross[b, :, :, :T, :S]),  # (L, h, T, S)
                    _numpy(encoder),
                    _numpy(decoder),
                    model.cross_attention_name,
                )
    return out  # type: ignore[return-value]


def translate_ids(
    model: Seq2Seq, vocab: Vocab, sources: Sequence[str], settings: DecodeSettings, batch_size: int = 32
) -> list[list[int]]:
    """The model's best translation of each source, as target piece ids (no BOS/EOS)."""
    src_ids = vocab.encode_src(list(sources))
    batches = [
        Batch.from_ids([src_ids[k] for k in chunk], None, chunk, model.pad_id, model.bos_id, model.eos_id)
        for chunk in _chunks(src_ids, batch_size)
    ]
    with eval_mode(model):
        hyps = translate_batches(model, batches, len(src_ids), settings)
    return [h[0].tokens for h in hyps]


def _groups(pieces: Sequence[str]) -> list[list[int]]:
    """Pieces -> words (``nmt.align.word_groups``), with "<s>" and "</s>" kept as words of their own."""
    if pieces and pieces[0] == BOS_PIECE:
        return [[0], *([k + 1 for k in g] for g in word_groups(pieces[1:], keep_eos=True))]
    return word_groups(pieces, keep_eos=True)


def to_words(weights: np.ndarray, cols: Sequence[str], rows: Sequence[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """Merge piece attention into word attention (``nmt.align.merge_to_words``) for every layer and head.

    Shapes: weights (L, h, R, C) -> (L, h, R_w, C_w); the labels become the words.
    """
    col_groups, row_groups = _groups(cols), _groups(rows)
    merged = np.array(
        [[merge_to_words(head, col_groups, row_groups) for head in layer] for layer in weights]
    )  # (L, h, R_w, C_w)

    def spell(pieces: Sequence[str], groups: list[list[int]]) -> list[str]:
        return ["".join(pieces[k] for k in g).replace(WORD_START, "") or WORD_START for g in groups]

    return merged, spell(cols, col_groups), spell(rows, row_groups)
