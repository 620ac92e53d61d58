"""The attention explorer's model side: the numbers behind each answer of its JSON API.

One ``ExplorerModel`` per loaded run folder. Each method answers one endpoint of ``nmt.explorer``
with a JSON-ready dict, through the library's own code paths (no second decoder):

* ``translate``: ``Translator.decode`` (the search of ``nmt.load(...).translate``), n-best or samples;
* ``attention``: ``nmt.attention_maps.teacher_forced`` on a hypothesis' ids (the model computes the
  same weights as during search: incremental == full), one layer and head (or the head average) of
  the cross-, encoder or decoder self-attention, on pieces or words (``to_words``);
* ``next_token``: ``Translator.next_token``, the distribution sampling draws from at a temperature.

For a run trained on ``data=toy``, a typed sentence of the toy corpus brings its reference and gold
links: the links are drawn when the shown target is the reference, and the sentence's AER (``nmt.align``)
is always that of the attention teacher-forced on the reference, as in ``nmt.plot analysis=true``.

Bad requests raise ``RequestError`` (an ``NmtError`` with an HTTP status and a one-line reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from nmt.align import AlignedSentence, analyse_attention, parse_pharaoh, word_groups
from nmt.api import Translation, Translator
from nmt.attention_maps import SentenceAttention, teacher_forced, to_words
from nmt.corpora.toy import load_toy
from nmt.errors import ConfigError, NmtError, is_count
from nmt.search import DecodeSettings

KINDS = ("cross", "encoder", "decoder")
TOY_TARGET = "nmt.corpora.toy.load_toy"
DIGITS = 5  # weights and probabilities are rounded in the answers (the page shows 3)


class RequestError(NmtError):
    """A request the explorer refuses: ``status`` is its HTTP status, the message says why and what to do."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """What one request may ask for (``conf/serve.yaml``), so that no request ties up the model for long."""

    max_chars: int = 1000
    max_beam: int = 8
    max_samples: int = 8
    max_top_k: int = 50
    max_queue: int = 64

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not is_count(value):
                raise ConfigError(f"{name}={value!r} (conf/serve.yaml): must be a positive whole number")


@dataclass(frozen=True)
class GoldPair:
    """A toy-corpus sentence's reference translation and its gold Pharaoh links (source word - target word)."""

    reference: str
    links: str


def normalise(text: str) -> str:
    """Whitespace collapsed: the key under which a typed sentence is looked up in the toy corpus."""
    return " ".join(text.split())


def toy_gold(config: DictConfig) -> dict[str, GoldPair]:
    """Source sentence -> reference and gold links, for a run trained on ``data=toy``; {} for other data.

    ``load_toy`` is called with the run's plain settings rather than instantiated from its config:
    run folders are untrusted input and may name any ``_target_``.
    """
    data = OmegaConf.to_container(config.data, resolve=True) if "data" in config else {}
    corpus = data.get("corpus") or {}
    if data.get("name") != "toy" or corpus.get("_target_") != TOY_TARGET:
        return {}
    kwargs: dict[str, Any] = {k: str(corpus[k]) for k in ("src_lang", "tgt_lang") if k in corpus}
    kwargs |= {k: int(corpus[k]) for k in ("seed", "n_train", "n_val", "n_test") if k in corpus}
    gold: dict[str, GoldPair] = {}
    splits = load_toy(**kwargs).splits
    for split in sorted(splits.values(), key=lambda s: s.name != "test"):  # test sentences first: the examples
        for src, tgt, links in zip(split.src, split.tgt, split.alignments or [], strict=False):
            gold[normalise(src)] = GoldPair(tgt, links)
    return gold


def _rounded(values: np.ndarray) -> list:
    return np.round(values.astype(np.float64), DIGITS).tolist()


def check_text(text: str, limits: Limits) -> str:
    """The text stripped, or a RequestError when it is blank or over ``limits.max_chars``."""
    if not text.strip():
        raise RequestError("text is empty: type a sentence to translate")
    if len(text) > limits.max_chars:
        raise RequestError(
            f"text has {len(text)} characters; the limit is max_chars={limits.max_chars} (a setting of nmt.serve)",
            413,
        )
    return text.strip()


class ExplorerModel:
    """A loaded run as the explorer uses it: its translator, its name on the page and its toy gold links.

    Not thread-safe: ``nmt.explorer`` calls one method at a time.
    """

    def __init__(self, label: str, translator: Translator, limits: Limits, gold: dict[str, GoldPair]) -> None:
        self.label, self.translator, self.limits, self.gold = label, translator, limits, gold
        self.layout = translator.model.attention_layout()  # the model says how it attends
        self.layers, self.heads = self.layout.layers, self.layout.heads
        self.has_self_attention = self.layout.self_attention

    @classmethod
    def from_translator(cls, label: str, translator: Translator, limits: Limits) -> ExplorerModel:
        """Wrap a translator; gold links come from its run's config when it was trained on ``data=toy``."""
        gold = toy_gold(translator.config) if translator.config is not None else {}
        return cls(label, translator, limits, gold)

    def info(self) -> dict[str, Any]:
        """What the page shows about the run: name, model, checkpoint, and whether gold links exist."""
        config = self.translator.config
        name = str(config.model.get("name", "")) if config is not None and "model" in config else ""
        return {
            "label": self.label,
            "model": name or type(self.translator.model).__name__,
            "checkpoint": str(self.translator.checkpoint) if self.translator.checkpoint else None,
            "layers": self.layers,
            "heads": self.heads,
            "self_attention": self.has_self_attention,
            "gold_sentences": len(self.gold),
            "examples": list(self.gold)[:5],
        }

    # ---------------------------------------------------------------------------------- /api/translate
    def _settings(self, options: dict[str, Any]) -> tuple[DecodeSettings, int]:
        """Decode settings and samples per sentence from a request, within the limits."""
        strategy, n_best = options["strategy"], int(options["n_best"])
        beam = int(options["beam_size"]) if strategy == "beam" else 1
        if beam > self.limits.max_beam:
            raise RequestError(f"beam_size={beam} is over the limit max_beam={self.limits.max_beam}")
        if strategy == "greedy" and n_best > 1:
            raise RequestError(f"greedy search gives one hypothesis, not n_best={n_best}: use beam or sample")
        if strategy == "beam" and n_best > beam:
            raise RequestError(f"n_best={n_best} is more than beam_size={beam}: ask for at most beam_size")
        if n_best > self.limits.max_samples:
            raise RequestError(f"n_best={n_best} is over the limit max_samples={self.limits.max_samples}")
        samples = n_best if strategy == "sample" else 1
        try:
            settings = DecodeSettings(
                strategy=strategy,
                beam_size=beam,
                length_penalty=float(options["length_penalty"]),
                n_best=1 if strategy == "sample" else n_best,
                temperature=float(options["temperature"]),
                top_k=int(options["top_k"]),
                seed=options["seed"],
            )
        except ValueError as err:
            raise RequestError(str(err)) from None
        return settings, samples

    def translate(self, text: str, options: dict[str, Any]) -> dict[str, Any]:
        """The hypotheses of one sentence (best first), with pieces and ids for the other endpoints."""
        text = check_text(text, self.limits)
        settings, samples = self._settings(options)
        found: list[Translation] = self.translator.decode([text], settings, samples=samples)[0]
        gold = self.gold.get(normalise(self.translator.prepare([text])[0]))
        return {
            "model": self.label,
            "source": text,
            "truncated": found[0].truncated,
            "hypotheses": [
                {
                    "text": t.text,
                    "score": round(t.score, DIGITS),
                    "log_prob": round(t.log_prob, DIGITS),
                    "src_pieces": t.src_pieces,
                    "tgt_pieces": t.tgt_pieces,
                    "tgt_ids": t.tgt_ids,
                    "is_reference": gold is not None and normalise(t.text) == normalise(gold.reference),
                }
                for t in found
            ],
            "reference": gold.reference if gold else None,
        }

    # ---------------------------------------------------------------------------------- /api/attention
    def _target(self, text: str, target_ids: list[int] | None, reference: bool) -> list[int]:
        """The target to read the attention on: a hypothesis' ids, or the toy reference."""
        if reference:
            gold = self.gold.get(normalise(self.translator.prepare([text])[0]))
            if gold is None:
                raise RequestError("reference=true needs a toy-corpus sentence of a data=toy run; this one has none")
            return self.translator.vocab.encode_tgt([gold.reference])[0]
        if target_ids is None:
            raise RequestError("give target_ids (a hypothesis' tgt_ids from /api/translate) or reference=true")
        return self._check_ids(target_ids, "target_ids")

    def _check_ids(self, ids: list[int], name: str) -> list[int]:
        size = self.translator.vocab.tgt_size
        if len(ids) > 4 * self.limits.max_chars:
            raise RequestError(f"{name} has {len(ids)} pieces; at most {4 * self.limits.max_chars}")
        bad = [i for i in ids if not 0 <= i < size]
        if bad:
            raise RequestError(f"{name}: piece id {bad[0]} is not in the target vocabulary (0 to {size - 1})")
        return list(ids)

    def _read(self, text: str, target: list[int], self_attention: bool) -> SentenceAttention:
        text = self.translator.prepare([text])[0]  # as the model reads it (nmt.preprocess), like translate
        src_len = len(self.translator.vocab.encode_src([text])[0])
        limit = self.translator.max_len
        if limit is not None and src_len > limit:
            raise RequestError(f"the sentence has {src_len} pieces; this run reads at most {limit} (data.max_len)")
        model, vocab = self.translator.model, self.translator.vocab
        return teacher_forced(model, vocab, [text], [target], max_tokens=1, self_attention=self_attention)[0]

    def attention(
        self,
        text: str,
        target_ids: list[int] | None = None,
        reference: bool = False,
        kind: str = "cross",
        layer: int | None = None,
        head: int | str = "avg",
        words: bool = False,
    ) -> dict[str, Any]:
        """One attention panel (rows: target, columns: source) and, for toy sentences, gold links and AER.

        ``layer`` counts from 1 (None: the last layer); ``head`` from 1, or "avg" for the heads' mean.
        """
        text = check_text(text, self.limits)
        if kind not in KINDS:
            raise RequestError(f"kind={kind!r}: use one of {list(KINDS)}")
        target = self._target(text, target_ids, reference)
        att = self._read(text, target, self_attention=kind != "cross")
        view = att.view(kind)
        if view is None:
            raise RequestError(
                f"{self.label} has no {kind} self-attention (only its {self.layout.cross_name}): kind=cross"
            )
        weights, cols, rows = view
        if words:
            weights, cols, rows = to_words(weights, cols, rows)
        L, h = weights.shape[:2]
        layer = L if layer is None else layer
        if not 1 <= layer <= L:
            raise RequestError(f"layer={layer}: {self.label} has layers 1 to {L}")
        if head != "avg" and not (isinstance(head, int) and 1 <= head <= h):
            raise RequestError(f'head={head!r}: {self.label} has heads 1 to {h}, or "avg" for their mean')
        panel = weights[layer - 1].mean(axis=0) if head == "avg" else weights[layer - 1, head - 1]  # (R, C)
        answer = {
            "model": self.label,
            "kind": kind,
            "layer": layer,
            "head": head,
            "layers": L,
            "heads": h,
            "words": words,
            "x": cols,
            "y": rows,
            "weights": _rounded(panel),
            "target_ids": target,
            "row_steps": _row_steps(kind, att.tgt_pieces, words),
            "gold": None,
        }
        gold = self.gold.get(normalise(self.translator.prepare([text])[0]))
        if gold is not None and kind == "cross":
            answer["gold"] = self._gold(text, gold, att, target, layer, head, words)
        return answer

    def _gold(
        self,
        text: str,
        gold: GoldPair,
        att: SentenceAttention,
        target: list[int],
        layer: int,
        head: int | str,
        words: bool,
    ) -> dict[str, Any]:
        """Gold links as cell rectangles of the shown panel (when it shows the reference) and the AER table."""
        vocab = self.translator.vocab
        shown_is_reference = normalise(vocab.decode_tgt(target)) == normalise(gold.reference)
        forced = att if shown_is_reference else self._read(text, vocab.encode_tgt([gold.reference])[0], False)
        aligned = AlignedSentence(forced.cross, forced.src_pieces, forced.tgt_pieces, gold.links)
        table = analyse_attention([aligned], model=self.label)
        pick = "avg" if head == "avg" and forced.cross.shape[1] > 1 else (1 if head == "avg" else head)
        aer = next(r["aer"] for r in table if r["layer"] == layer and r["head"] == pick)
        links = _link_cells(gold.links, att.src_pieces, att.tgt_pieces, words) if shown_is_reference else []
        return {
            "reference": gold.reference,
            "links": links,
            "drawn": shown_is_reference,
            "aer": round(float(aer), DIGITS),
            "table": [
                {**r, "aer": round(float(r["aer"]), DIGITS), "entropy": round(float(r["entropy"]), DIGITS)}
                for r in table
            ],
        }

    # ---------------------------------------------------------------------------------- /api/next-token
    def next_token(
        self, text: str, prefix_ids: list[int], temperature: float = 1.0, top_k: int = 0, k: int = 10
    ) -> dict[str, Any]:
        """The top-``k`` next pieces after ``prefix_ids`` at ``temperature``, and the distribution's entropy."""
        text = check_text(text, self.limits)
        prefix = self._check_ids(prefix_ids, "prefix_ids")
        if k > self.limits.max_top_k:
            raise RequestError(f"k={k} is over the limit max_top_k={self.limits.max_top_k}")
        try:
            nxt = self.translator.next_token(text, prefix, temperature=temperature, k=k, top_k=top_k)
        except ValueError as err:
            raise RequestError(str(err)) from None
        return {
            "model": self.label,
            "step": len(prefix),
            "prefix_pieces": self.translator.vocab.tgt_pieces_from_ids(prefix),
            "pieces": nxt.pieces,
            "ids": nxt.ids,
            "probs": [round(p, DIGITS) for p in nxt.probs],
            "entropy": round(nxt.entropy, DIGITS),
            "temperature": nxt.temperature,
        }


def _link_cells(links: str, src_pieces: list[str], tgt_pieces: list[str], words: bool) -> list[list[int]]:
    """Each gold link (source word i, target word j) as the cells it covers: [x0, x1, y0, y1], ends included.

    On words a link is one cell; on pieces, the block of the source word's pieces x the target word's.
    """
    sure, possible = parse_pharaoh(links)
    if words:
        return [[i, i, j, j] for i, j in sorted(possible)]
    cols, rows = word_groups(src_pieces, keep_eos=True), word_groups(tgt_pieces, keep_eos=True)
    return [
        [cols[i][0], cols[i][-1], rows[j][0], rows[j][-1]]
        for i, j in sorted(possible)
        if i < len(cols) and j < len(rows)
    ]


def _row_steps(kind: str, tgt_pieces: list[str], words: bool) -> list[int] | None:
    """For each row of a cross or decoder panel, the decoder step it shows (its first piece); None for encoder."""
    if kind == "encoder":
        return None
    if not words:
        return list(range(len(tgt_pieces)))
    return [group[0] for group in word_groups(tgt_pieces, keep_eos=True)]
