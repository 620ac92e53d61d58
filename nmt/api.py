"""The Python API: load a trained run folder and translate sentences.

Example::

    import nmt

    translator = nmt.load("runs/multi30k-en-de/transformer/2024-05-01_12-00-00")
    translator.translate(["A man rides a bike.", "Two dogs play."])  # -> two German strings
    best = translator.translate(["A man rides a bike."], return_attention=True)[0]
    best.attention.shape  # (L, h, len(best.tgt_pieces), len(best.src_pieces))

Sentences are cut into SentencePiece pieces with the run's own vocabulary, grouped into
length-sorted batches under a token budget (``nmt.decoding``: the one batching, truncation and
decode-and-score path of every command), decoded with ``nmt.search`` and returned in input order.
Blank sentences (or ones with no source piece) translate to "" without touching the model.
Sources longer than the run's ``data.max_len`` pieces (or ``max_len``) are cut there, with a warning,
exactly as in nmt.train's val/test scores, ``nmt.evaluate`` and ``nmt.translate``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import Tensor

from nmt.batch import Batch
from nmt.checkpoint import LoadedRun, load_run
from nmt.decoding import Scored, cut_sources, decode_and_score, decode_ids
from nmt.errors import ConfigError
from nmt.models.base import Seq2Seq
from nmt.next_token import entropy, next_token_log_probs, temperature_probs
from nmt.preprocess import Preprocessing, for_data, summary
from nmt.search import DecodeSettings, Hypothesis
from nmt.vocab import Vocab

log = logging.getLogger(__name__)


@dataclass
class Translation:
    """One hypothesis for one source sentence.

    ``src_pieces`` and ``tgt_pieces`` end with the EOS piece "</s>" (the model reads and writes
    it), so they label the axes of ``attention``. A blank source gives ``text == ""``, empty
    piece lists, score 0 and no attention. ``tgt_ids`` are the target piece ids without EOS (what
    ``Translator.next_token`` takes as a prefix). ``source`` is the sentence as given;
    ``model_source`` what the model read, after the corpus's known preprocessing (``nmt.preprocess``).

    Shapes: attention (L, h, len(tgt_pieces), len(src_pieces)) cross-attention of every
    decoder step (L layers, h heads; the RNN has L = h = 1), or None unless asked for.
    """

    source: str
    text: str
    score: float
    log_prob: float
    src_pieces: list[str]
    tgt_pieces: list[str]
    attention: Tensor | None = None
    truncated: bool = False
    tgt_ids: list[int] = field(default_factory=list)
    model_source: str = ""

    def __repr__(self) -> str:
        """One line: the texts, the score, the piece counts and the attention's shape (never its values)."""
        shape = "None" if self.attention is None else f"({', '.join(str(n) for n in self.attention.shape)})"
        cut = ", truncated=True" if self.truncated else ""
        return (
            f"Translation(source={_clip(self.source)!r}, text={_clip(self.text)!r}, score={self.score:.3f}, "
            f"log_prob={self.log_prob:.3f}, src_pieces={len(self.src_pieces)}, tgt_pieces={len(self.tgt_pieces)}, "
            f"attention={shape}{cut})"
        )


def _clip(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, for one-line reprs."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class NextToken:
    """The decoder's next-piece distribution after a target prefix, at one temperature.

    ``pieces``, ``ids`` and ``probs`` are the ``k`` most likely pieces, most likely first;
    ``entropy`` (nats) is that of the whole distribution over the vocabulary.
    """

    pieces: list[str]
    ids: list[int]
    probs: list[float]
    entropy: float
    temperature: float


class Translator:
    """A trained model and its vocabulary, ready to translate text.

    Args:
        model: the ``Seq2Seq`` (put in eval mode here).
        vocab: the run's vocabulary.
        max_len: sources are cut to this many pieces (None: never cut).
        checkpoint: where the weights came from (for reports).
        config: the run's resolved config (for reports, and the preprocessing of its ``data``).

    Sources are rewritten as the run's corpus was (``nmt.preprocess.for_data``: the toy corpus is
    lower-cased and tokenised) before they are cut into pieces; the first time that changes a
    sentence, a warning says so.
    """

    def __init__(
        self,
        model: Seq2Seq,
        vocab: Vocab,
        max_len: int | None = 128,
        checkpoint: Path | None = None,
        config: DictConfig | None = None,
    ) -> None:
        if max_len is not None and max_len < 1:
            raise ConfigError(f"max_len={max_len} must be a positive number of source pieces (or None)")
        self.model, self.vocab, self.max_len = model.eval(), vocab, max_len
        self.checkpoint, self.config = checkpoint, config
        self.preprocessing: Preprocessing | None = for_data(config.get("data")) if config is not None else None
        self._told_preprocessing = self._told_unknown = False

    @classmethod
    def from_run(cls, run: LoadedRun, max_len: int | None = None) -> Translator:
        """A translator for a loaded run folder, cutting sources at ``max_len`` pieces.

        ``max_len=None`` uses the run's ``data.max_len``, where nmt.train cut the val and test
        sources it scored: every command then gives the same model the same input.
        """
        limit = int(run.config.data.get("max_len", 128)) if max_len is None else max_len
        return cls(run.model, run.vocab, limit, run.checkpoint, run.config)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def __repr__(self) -> str:
        name = type(self.model).__name__
        return f"Translator({name}, {self.vocab!r}, checkpoint={self.checkpoint}, device={self.device})"

    def prepare(self, sentences: Sequence[str]) -> list[str]:
        """The sentences as the model reads them: with the corpus's known preprocessing, if any."""
        if self.preprocessing is None:
            return list(sentences)
        pre = self.preprocessing
        if not self._told_preprocessing:
            note = summary(pre, list(sentences))
            if note:
                log.warning("%s; shown once", note)
                self._told_preprocessing = True
        return [pre.apply(s) for s in sentences]

    # ---------------------------------------------------------------------------------- simple API
    def translate(
        self,
        sentences: Sequence[str],
        beam_size: int = 5,
        length_penalty: float = 0.6,
        strategy: str = "beam",
        max_len_a: float = 1.5,
        max_len_b: int = 10,
        n_best: int = 1,
        temperature: float = 1.0,
        top_k: int = 0,
        seed: int | None = None,
        max_tokens: int = 4096,
        return_attention: bool = False,
        precision: str = "fp32",
    ) -> list[str] | list[Translation] | list[list[Translation]]:
        """Translate sentences (see ``nmt.search.DecodeSettings`` for the decoding options).

        Args:
            sentences: source sentences, one per item; blank ones give "".
            beam_size, length_penalty, strategy, max_len_a, max_len_b, temperature, top_k, seed:
                the decoding options (strategy "beam", "greedy" or "sample").
            n_best: hypotheses per sentence: the best n of the beam (n ≤ beam_size), or n
                independent samples (strategy "sample"), best score first.
            max_tokens: batch budget in padded token positions, sentences × beams × longest source
                (``nmt.decoding``), bounding memory.
            return_attention: also return each hypothesis' cross-attention.
            precision: the model's matmuls: "fp32", "bf16", or "int8" (CPUs only, the fastest there;
                ``nmt.int8``). Hypotheses may differ slightly from fp32's.

        Returns:
            One string per sentence; with ``return_attention`` one ``Translation`` per sentence;
            with ``n_best > 1`` one list of up to ``n_best`` ``Translation``s per sentence.
        """
        if isinstance(sentences, str):
            raise TypeError("translate() takes a list of sentences; wrap a single sentence as [sentence]")
        samples = 1
        if strategy == "sample":
            samples, n_best = n_best, 1
        elif strategy == "greedy" and n_best > 1:
            raise ConfigError(f"greedy search gives one hypothesis, not n_best={n_best}; use beam or sample")
        settings = DecodeSettings(
            strategy,
            beam_size,
            length_penalty,
            n_best,
            max_len_a,
            max_len_b,
            temperature,
            top_k,
            seed,
            precision=precision,
        )
        results = self.decode(sentences, settings, max_tokens, return_attention, samples)
        cut = sum(r[0].truncated for r in results)
        if cut:
            log.warning("%d of %d source sentences were cut to max_len=%d pieces", cut, len(results), self.max_len)
        if n_best > 1 or samples > 1:
            return results
        if return_attention:
            return [r[0] for r in results]
        return [r[0].text for r in results]

    # ---------------------------------------------------------------------------------- full control
    def decode(
        self,
        sentences: Sequence[str],
        settings: DecodeSettings,
        max_tokens: int = 4096,
        need_weights: bool = False,
        samples: int = 1,
        progress: bool = False,
        workers: int = 1,
    ) -> list[list[Translation]]:
        """Translate with explicit settings; per sentence, its hypotheses best first.

        Args:
            sentences: source sentences (blank ones give one empty ``Translation``).
            settings: how to decode; beam search returns up to ``settings.n_best`` hypotheses.
            max_tokens: batch budget in padded token positions, sentences × beams × longest source
                (``nmt.decoding``).
            need_weights: keep each hypothesis' cross-attention.
            samples: draw this many samples per sentence (strategy "sample" only).
            progress: show a progress bar (on a terminal).
            workers: decode in this many processes (CPU only; ``nmt.decoding.decode_ids``).
        """
        if samples < 1 or (samples > 1 and settings.strategy != "sample"):
            raise ConfigError(f"samples={samples}: several samples per sentence need strategy 'sample'")
        sentences = list(sentences)
        read = self.prepare(sentences)
        ids, truncated = self._encode(read)
        self._warn_unknown(read, ids)
        rows = [i for i, x in enumerate(ids) if x for _ in range(samples)]  # sentence of every decoded row
        self.model.eval()
        hyps = decode_ids(self.model, [ids[i] for i in rows], settings, max_tokens, need_weights, progress, workers)
        out: list[list[Translation]] = [[] for _ in sentences]
        for i, row_hyps in zip(rows, hyps, strict=True):
            out[i].extend(self._translation(sentences[i], read[i], ids[i], h, truncated[i]) for h in row_hyps)
        for i, found in enumerate(out):
            if not found:
                out[i] = [Translation(sentences[i], "", 0.0, 0.0, [], [], model_source=read[i])]
            elif samples > 1:
                found.sort(key=lambda t: t.score, reverse=True)
        return out

    def score(
        self,
        sentences: Sequence[str],
        references: Sequence[str],
        settings: DecodeSettings,
        max_tokens: int = 4096,
        progress: bool = False,
        workers: int = 1,
    ) -> Scored:
        """Translate and score against references, line by line (``nmt.decoding.decode_and_score``).

        Returns the hypotheses, the best texts and a scores dict: BLEU, chrF, lowercased BLEU with
        their sacreBLEU signatures, timing and the decoding settings, as ``nmt.evaluate`` reports them.
        """
        return decode_and_score(self, sentences, references, settings, max_tokens, progress, workers)

    def next_token(
        self, source: str, prefix: Sequence[int] = (), temperature: float = 1.0, k: int = 10, top_k: int = 0
    ) -> NextToken:
        """The distribution the decoder draws the next piece from, after ``prefix``.

        Args:
            source: one source sentence (cut to ``max_len`` pieces like ``translate``).
            prefix: target piece ids already written (without BOS), e.g. the first tokens of a
                hypothesis; empty for the first step.
            temperature, top_k: as for sampling (temperature 1 is the model's own distribution).
            k: how many of the most likely pieces to return.
        """
        ids, _ = self._encode(self.prepare([source]))
        if not ids[0]:
            raise ConfigError("next_token needs a non-blank source sentence")
        batch = Batch.from_ids(ids, None, [0], self.vocab.pad_id, self.vocab.bos_id, self.vocab.eos_id)
        src, src_mask = batch.src.to(self.device), batch.src_mask.to(self.device)
        prefix_ids = torch.tensor([list(prefix)], dtype=torch.long, device=self.device).view(1, -1)  # (1, t)
        logp = next_token_log_probs(self.model, src, src_mask, prefix_ids)  # (1, V)
        probs = temperature_probs(logp, temperature, top_k)[0]  # (V,)
        top = probs.topk(min(k, probs.numel()))
        top_ids = top.indices.tolist()
        return NextToken(
            pieces=self.vocab.tgt_pieces_from_ids(top_ids),
            ids=top_ids,
            probs=top.values.tolist(),
            entropy=float(entropy(probs)),
            temperature=temperature,
        )

    def _warn_unknown(self, sentences: list[str], ids: list[list[int]]) -> None:
        """Once per translator: a warning when sources hold characters the training text never had (``<unk>``)."""
        unknown = [i for i, x in enumerate(ids) if self.vocab.unk_id in x]
        if not unknown or self._told_unknown:
            return
        self._told_unknown = True
        first = sentences[unknown[0]]
        pieces = [
            p for p, i in zip(self.vocab.src_pieces(first), ids[unknown[0]], strict=False) if i == self.vocab.unk_id
        ]
        log.warning(
            "%d of %d sentences hold characters the training text never had, read as <unk> (first: %r in %r): "
            "is the input in the corpus's language, script, casing and tokenisation? shown once",
            len(unknown),
            len(sentences),
            "".join(pieces).replace("\u2581", " ").strip(),
            first if len(first) <= 60 else first[:57] + "...",
        )

    def _encode(self, sentences: list[str]) -> tuple[list[list[int]], list[bool]]:
        """Source piece ids (empty for blank text), cut to ``max_len`` (``cut_sources``); and which were cut."""
        ids = [[] if not s.strip() else x for s, x in zip(sentences, self.vocab.encode_src(sentences), strict=True)]
        return cut_sources(ids, self.max_len)

    def _translation(self, source: str, read: str, ids: list[int], hyp: Hypothesis, truncated: bool) -> Translation:
        eos = self.vocab.tgt_pieces_from_ids([self.vocab.eos_id])
        return Translation(
            source=source,
            text=self.vocab.decode_tgt(hyp.tokens),
            score=hyp.score,
            log_prob=hyp.log_prob,
            src_pieces=self.vocab.src_pieces(read)[: len(ids)] + eos,
            tgt_pieces=self.vocab.tgt_pieces_from_ids(hyp.tokens) + eos,
            attention=hyp.attention,
            truncated=truncated,
            tgt_ids=list(hyp.tokens),
            model_source=read,
        )


def load(
    run_dir: str | Path,
    checkpoint: str | Sequence[str] = "best",
    device: str = "cpu",
    average: int = 0,
    max_len: int | None = None,
) -> Translator:
    """Load a run folder written by ``nmt.train`` as a ``Translator``.

    Args:
        run_dir: the run folder (config.yaml, vocab/, checkpoints/).
        checkpoint: "best", "last", or a checkpoint path (see ``nmt.checkpoint.load_run``).
        device: "cpu", "cuda", ...
        average: average the weights of the N most recent checkpoints (0: no averaging).
        max_len: cut sources to this many pieces (None: the run's ``data.max_len``, as every command).
    """
    return Translator.from_run(load_run(run_dir, checkpoint, device, average), max_len)
