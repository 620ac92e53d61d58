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
from nmt.batch import Batch
from nmt.decoding import decode_batches, decode_ids
from nmt.models.base import AttentionLayout, Seq2Seq, eval_mode
from nmt.search import DecodeSettings
from nmt.vocab import Vocab

BOS_PIECE, EOS_PIECE = "<s>", "</s>"
# For a SentenceAttention built without a model (tests, arrays from elsewhere): a plain cross-attention.
DEFAULT_LAYOUT = AttentionLayout("cross-attention", "multi-head", layers=1, heads=1, self_attention=True)


@dataclass
class SentenceAttention:
    """Every attention weight of one sentence pair, trimmed to its real lengths.

    Rows of ``cross`` and ``decoder`` are the output pieces (the target + "</s>"); columns of ``cross``
    and ``encoder`` are the source pieces + "</s>"; columns of ``decoder`` are the decoder's inputs
    ("<s>" + the target, see ``dec_inputs``).

    ``layout`` is the model's own account of its attention (``Seq2Seq.attention_layout``): what to
    call the cross-attention, and whether it is one map or layers × heads.

    Shapes: cross (L, h, T, S); encoder (L, h, S, S) or None; decoder (L, h, T, T) or None.
    """

    src_pieces: list[str]
    tgt_pieces: list[str]
    cross: np.ndarray
    encoder: np.ndarray | None = None
    decoder: np.ndarray | None = None
    layout: AttentionLayout = DEFAULT_LAYOUT

    @property
    def cross_name(self) -> str:
        """What figure titles call the cross-attention (the model's ``cross_attention_name``)."""
        return self.layout.cross_name

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


def _numpy(x: torch.Tensor | None) -> np.ndarray | None:
    return None if x is None else x.detach().float().cpu().numpy()


def teacher_forced(
    model: Seq2Seq,
    vocab: Vocab,
    sources: Sequence[str],
    targets: Sequence[Sequence[int]],
    max_tokens: int = 4096,
    self_attention: bool = True,
    progress: bool = False,
) -> list[SentenceAttention]:
    """Run ``model`` teacher-forced on (source text, target ids) pairs and keep the attention weights.

    Pairs are batched by ``nmt.decoding.decode_batches``: at most ``max_tokens`` padded positions, pairs
    × longer side (as training counts). The model is put in eval mode for the pass and given back in
    the mode it was in.

    Shapes:
        per batch: src (B, S), tgt_in (B, T) -> Attention.cross (B, L, h, T, S), sliced per sentence
        to (L, h, T_k, S_k) with T_k = target pieces + 1 (EOS), S_k = source pieces + 1 (EOS).
    """
    src_ids = vocab.encode_src(list(sources))
    out: list[SentenceAttention | None] = [None] * len(src_ids)
    device = next(model.parameters()).device
    layout = model.attention_layout()
    chunks = decode_batches([max(len(s), len(t)) + 1 for s, t in zip(src_ids, targets, strict=True)], max_tokens)
    with eval_mode(model), torch.inference_mode():
        for chunk in tqdm(chunks, desc="attention", unit="batch", disable=not progress):
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
                    layout,
                )
    return out  # type: ignore[return-value]


def translate_ids(
    model: Seq2Seq, vocab: Vocab, sources: Sequence[str], settings: DecodeSettings, max_tokens: int = 4096
) -> list[list[int]]:
    """The model's best translation of each source, as target piece ids (no BOS/EOS), decoded as every
    command decodes (``nmt.decoding.decode_ids``)."""
    hyps = decode_ids(model, vocab.encode_src(list(sources)), settings, max_tokens)
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
