"""SentencePiece vocabularies: trained once on a corpus's train split, cached, saved into run folders.

Every model uses the same special ids: ``pad=0, unk=1, bos=2, eos=3``.

A vocabulary is either *joint* (one model over source and target text, so both sides share ids)
or *separate* (one model per side). Training reads the train split only, through a seeded sample
of at most ``VocabSettings.sample_lines`` lines (memory bounded whatever the corpus size; the
sample is written to a temporary file, so Python does not hold it while SentencePiece trains), and
the result is cached under ``<cache_dir>/spm/<key>/`` where ``key`` hashes the train split and the
settings, so a second build with the same data and settings loads instead of retraining. The
sample size enters the key only when it cuts the train split (see ``VocabSettings.key_settings``):
smaller corpora keep the keys they had before it was a setting.

Text goes through SentencePiece's default ``nmt_nfkc`` normalisation: runs of spaces collapse
to one, leading/trailing spaces go, and compatibility characters are NFKC-folded (e.g. "…" to
"..."). Apart from that, ``decode(encode(s)) == s`` for text whose characters were seen in
training (case and punctuation included).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sentencepiece as spm

from nmt.atomic import publish_folder
from nmt.corpora.base import CorpusError, ParallelCorpus
from nmt.errors import ConfigError, is_count

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
MODEL_TYPES = ("unigram", "bpe", "char", "word")
VOCAB_JSON = "vocab.json"
# Bump when the training recipe below changes, so that old cache entries are not reused.
_RECIPE_VERSION = 1
# Trainer options that are not user settings; fixed so that builds are reproducible.
_TRAINER_OPTIONS: dict[str, Any] = {
    "pad_id": PAD_ID,
    "unk_id": UNK_ID,
    "bos_id": BOS_ID,
    "eos_id": EOS_ID,
    "hard_vocab_limit": False,  # small corpora may not support the requested size
    "num_threads": 1,  # one thread: the same corpus and settings give the same model
    "minloglevel": 2,
}
_SPM_SEED = 0
# Lines SentencePiece trains on at most (data.vocab.sample_lines): the largest measured sample whose
# vocabulary build stays within 2x of Multi30k's peak memory (docs/results/large-corpus/sample-lines).
DEFAULT_SAMPLE_LINES = 400_000


class VocabError(CorpusError):
    """A missing or unreadable vocabulary file. The message names the file."""


@dataclass(frozen=True)
class VocabSettings:
    """What a vocabulary is trained with (the user's knobs)."""

    size: int = 8000
    model_type: str = "unigram"
    joint: bool = True
    character_coverage: float = 1.0
    sample_lines: int = DEFAULT_SAMPLE_LINES

    def __post_init__(self) -> None:
        if self.model_type not in MODEL_TYPES:
            raise ConfigError(f"vocab.model_type={self.model_type!r}: choose one of {', '.join(MODEL_TYPES)}")
        if int(self.size) < 8:
            raise ConfigError(f"vocab.size={self.size} is too small: use at least 8 (4 are special pieces)")
        if not 0.0 < float(self.character_coverage) <= 1.0:
            raise ConfigError(f"vocab.character_coverage={self.character_coverage} must be in (0, 1]")
        k = self.sample_lines
        if not is_count(k):
            raise ConfigError(
                f"vocab.sample_lines={k!r} must be a whole number of lines >= 1 (e.g. {DEFAULT_SAMPLE_LINES})"
            )

    @classmethod
    def from_mapping(cls, settings: Any) -> VocabSettings:
        """Build from a dict or DictConfig; missing keys take the defaults, unknown keys are an error."""
        given = {str(k): settings[k] for k in settings}
        known = ("size", "model_type", "joint", "character_coverage", "sample_lines")
        unknown = set(given) - set(known)
        if unknown:
            raise ConfigError(f"unknown vocab setting(s) {sorted(unknown)}: use {', '.join(known)}")
        s = cls(**given)
        return cls(int(s.size), str(s.model_type), bool(s.joint), float(s.character_coverage), s.sample_lines)

    def samples(self, train_pairs: int) -> bool:
        """Whether a train split of ``train_pairs`` pairs may be cut by the sample (joint: both sides count)."""
        return train_pairs * (2 if self.joint else 1) > self.sample_lines

    def key_settings(self, train_pairs: int) -> dict[str, Any]:
        """The settings that name a vocabulary (cache key, ``ids_fingerprint``) of a train split this long.

        ``sample_lines`` is left out when the split is short enough to be kept whole: the model is
        then the same for every sample size, and keys stay those of before it was a setting.
        """
        named = asdict(self)
        if not self.samples(train_pairs):
            del named["sample_lines"]
        return named


def cache_key(corpus: ParallelCorpus, settings: VocabSettings) -> str:
    """SHA-256 of the train split's fingerprint, the settings and the training recipe.

    The settings are ``settings.key_settings``: the sample size counts only where it cuts the split.
    """
    fingerprint = corpus.fingerprint("train")  # a streamed split counts its pairs in the same pass
    named = settings.key_settings(len(corpus.splits["train"]))
    payload = json.dumps({"train": fingerprint, "settings": named, "recipe": _RECIPE_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _model_files(joint: bool) -> dict[str, str]:
    """Which model file serves each side."""
    return (
        {"src": "spm-joint.model", "tgt": "spm-joint.model"}
        if joint
        else {"src": "spm-src.model", "tgt": "spm-tgt.model"}
    )


def _load_processor(path: Path) -> spm.SentencePieceProcessor:
    if not path.is_file():
        raise VocabError(
            f"{path}: SentencePiece model file is missing; rebuild the vocabulary or copy the run folder whole"
        )
    try:
        sp = spm.SentencePieceProcessor(model_file=str(path))
    except (RuntimeError, OSError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise VocabError(f"{path}: not a readable SentencePiece model ({reason}); delete it and rebuild") from None
    if (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id()) != (PAD_ID, UNK_ID, BOS_ID, EOS_ID):
        raise VocabError(f"{path}: special ids differ from pad=0 unk=1 bos=2 eos=3; rebuild it with nmt.vocab")
    return sp


def _train_model(lines: Iterable[str], prefix: Path, settings: VocabSettings, corpus_name: str) -> None:
    """Train one SentencePiece model on ``lines`` (at most ``settings.sample_lines``) into ``prefix``.model."""
    spm.set_random_generator_seed(_SPM_SEED)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines),
            model_prefix=str(prefix),
            vocab_size=settings.size,
            model_type=settings.model_type,
            character_coverage=settings.character_coverage,
            # The sample already fits, so SentencePiece keeps it whole; the value is also written into
            # the model file, where 2,000,000 (the fixed size before sample_lines) keeps old models' bytes.
            input_sentence_size=max(settings.sample_lines, 2_000_000),
            shuffle_input_sentence=True,
            **_TRAINER_OPTIONS,
        )
    except RuntimeError as err:
        reason = str(err).splitlines()[0].split("] ", 1)[-1]
        raise ConfigError(
            f"SentencePiece training on corpus {corpus_name!r} failed with {asdict(settings)}: {reason}"
        ) from None


def _nonempty(lines: Iterable[str]) -> Iterator[str]:
    return (line for line in lines if line.strip())


def sample_lines(lines: Iterable[str], k: int, seed: int = _SPM_SEED) -> list[str]:
    """At most ``k`` lines drawn uniformly from a stream (reservoir sampling), in stream order when it is short.

    What SentencePiece trains on: its memory then stays bounded by ``k`` whatever the corpus size,
    and a stream of at most ``k`` lines is kept whole and in order (the same input as before sampling).
    """
    rng = random.Random(seed)
    sample: list[str] = []
    for n, line in enumerate(lines):
        if n < k:
            sample.append(line)
            continue
        j = rng.randrange(n + 1)
        if j < k:
            sample[j] = line
    return sample


def _train_on_sample(lines: Iterable[str], prefix: Path, settings: VocabSettings, corpus_name: str) -> None:
    """Draw the sample of ``lines``, park it in a file beside ``prefix`` and train SentencePiece from that file.

    The sample leaves Python's memory before SentencePiece copies it into its own, so the two
    copies never coexist. One JSON string a line: any text (newlines included) comes back exactly.
    """
    parked = prefix.with_suffix(".sample")
    with parked.open("w", encoding="utf-8") as out:
        for line in sample_lines(lines, settings.sample_lines):
            out.write(json.dumps(line) + "\n")

    def read_back() -> Iterator[str]:
        with parked.open(encoding="utf-8") as sample:
            yield from (json.loads(line) for line in sample)

    try:
        _train_model(read_back(), prefix, settings, corpus_name)
    finally:
        parked.unlink()


class Vocab:
    """Source and target SentencePiece models with fixed special ids.

    Build one with ``Vocab.build`` (trains or loads from the cache) or ``Vocab.load`` (a saved
    folder). Ids never include BOS/EOS: ``nmt.batch.Batch.from_ids`` adds them.
    """

    pad_id, unk_id, bos_id, eos_id = PAD_ID, UNK_ID, BOS_ID, EOS_ID

    def __init__(
        self, src: spm.SentencePieceProcessor, tgt: spm.SentencePieceProcessor, settings: VocabSettings
    ) -> None:
        self._src, self._tgt, self.settings = src, tgt, settings
        # Where the vocabulary came from (corpus name, train fingerprint); kept through save/load.
        self.provenance: dict[str, str] = {}

    # ----------------------------------------------------------------- building and files
    @classmethod
    def build(
        cls,
        corpus: ParallelCorpus,
        size: int = 8000,
        model_type: str = "unigram",
        joint: bool = True,
        character_coverage: float = 1.0,
        cache_dir: str | os.PathLike = ".cache",
        sample_lines: int = DEFAULT_SAMPLE_LINES,
    ) -> Vocab:
        """Train on ``corpus``'s train split, or load the cached result of an identical earlier build.

        SentencePiece sees a seeded sample of at most ``sample_lines`` lines of the split (source and
        target lines together for a joint vocabulary). The models are trained into a temporary
        folder next to the cache entry, which is then renamed into place, so a crash never leaves
        a half-written entry and concurrent builders (one per node under DDP) cannot corrupt each
        other.
        """
        settings = VocabSettings(size, model_type, joint, character_coverage, sample_lines)
        root = Path(cache_dir) / "spm"
        final = root / cache_key(corpus, settings)
        if (final / VOCAB_JSON).is_file():
            return cls.load(final)
        train = corpus.splits["train"]
        if not any(s.strip() for s in train.src) or not any(t.strip() for t in train.tgt):
            raise CorpusError(
                f"corpus {corpus.name!r}: the train split has no non-empty lines to train a vocabulary on"
            )
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-{final.name[:12]}-"))
        try:
            files = _model_files(joint)
            if joint:
                both = itertools.chain(_nonempty(train.src), _nonempty(train.tgt))
                _train_on_sample(both, tmp / files["src"].removesuffix(".model"), settings, corpus.name)
            else:
                for side, lines in (("src", train.src), ("tgt", train.tgt)):
                    prefix = tmp / files[side].removesuffix(".model")
                    _train_on_sample(_nonempty(lines), prefix, settings, corpus.name)
            vocab = cls._from_folder(tmp, settings)
            vocab.provenance = {"corpus": corpus.name, "train_fingerprint": corpus.fingerprint("train")}
            vocab._write_json(tmp)
            publish_folder(tmp, final, VOCAB_JSON)  # or theirs, when another process finished it first
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return cls.load(final)

    @classmethod
    def _from_folder(cls, folder: Path, settings: VocabSettings) -> Vocab:
        files = _model_files(settings.joint)
        src = _load_processor(folder / files["src"])
        tgt = src if settings.joint else _load_processor(folder / files["tgt"])
        return cls(src, tgt, settings)

    def _write_json(self, folder: Path) -> None:
        info = {
            "settings": asdict(self.settings),
            "special_ids": {"pad": PAD_ID, "unk": UNK_ID, "bos": BOS_ID, "eos": EOS_ID},
            "files": _model_files(self.joint),
            "src_size": self.src_size,
            "tgt_size": self.tgt_size,
            "sentencepiece": spm.__version__,
            "provenance": self.provenance,
        }
        (folder / VOCAB_JSON).write_text(json.dumps(info, indent=2) + "\n")

    def save(self, folder: str | os.PathLike) -> None:
        """Write the model file(s) and ``vocab.json`` into ``folder`` (a run folder), self-contained."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in set(_model_files(self.joint).values()):
            side = self._tgt if name == "spm-tgt.model" else self._src
            (folder / name).write_bytes(side.serialized_model_proto())
        self._write_json(folder)

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Vocab:
        """Restore a vocabulary written by ``save`` (or a cache entry of ``build``)."""
        path = Path(folder) / VOCAB_JSON
        if not path.is_file():
            raise VocabError(f"{path}: vocabulary description is missing; save the vocabulary into this folder first")
        try:
            info = json.loads(path.read_text())
            settings = VocabSettings.from_mapping(info["settings"])
        except (ValueError, KeyError, TypeError) as err:
            raise VocabError(f"{path}: unreadable vocabulary description ({err}); rebuild the vocabulary") from None
        vocab = cls._from_folder(Path(folder), settings)
        vocab.provenance = dict(info.get("provenance", {}))
        return vocab

    def model_digest(self) -> str:
        """SHA-256 of the SentencePiece model(s): equal digests cut text into the same ids."""
        h = hashlib.sha256(self._src.serialized_model_proto())
        if not self.joint:
            h.update(self._tgt.serialized_model_proto())
        return h.hexdigest()

    # ----------------------------------------------------------------- properties
    @property
    def joint(self) -> bool:
        """True when source and target share one model (and so one id space)."""
        return self.settings.joint

    @property
    def src_size(self) -> int:
        """Number of source pieces, specials included (may be below ``settings.size`` on small corpora)."""
        return self._src.get_piece_size()

    @property
    def tgt_size(self) -> int:
        """Number of target pieces, specials included."""
        return self._tgt.get_piece_size()

    # ----------------------------------------------------------------- text <-> ids
    def encode_src(self, texts: list[str], num_threads: int = -1) -> list[list[int]]:
        """Source sentences to piece ids (no BOS/EOS); ``num_threads`` -1: SentencePiece uses every core."""
        return self._src.encode(list(texts), out_type=int, num_threads=num_threads)

    def encode_tgt(self, texts: list[str], num_threads: int = -1) -> list[list[int]]:
        """Target sentences to piece ids (no BOS/EOS); ``num_threads`` -1: SentencePiece uses every core."""
        return self._tgt.encode(list(texts), out_type=int, num_threads=num_threads)

    @property
    def src_model(self) -> spm.SentencePieceProcessor:
        """The source side's SentencePiece model (``nmt.subword_sampling`` reads its pieces and scores)."""
        return self._src

    @property
    def tgt_model(self) -> spm.SentencePieceProcessor:
        """The target side's SentencePiece model (the source's when joint)."""
        return self._tgt

    def decode_tgt(self, ids: Sequence[int]) -> str:
        """Target ids to text: stops at the first EOS and drops PAD and BOS."""
        ids = [int(i) for i in ids]
        if EOS_ID in ids:
            ids = ids[: ids.index(EOS_ID)]
        return self._tgt.decode([i for i in ids if i not in (PAD_ID, BOS_ID)])

    def src_pieces(self, text: str) -> list[str]:
        """The source pieces of one sentence (without the EOS the model's source ends with)."""
        return self._src.encode(text, out_type=str)

    def tgt_pieces_from_ids(self, ids: Sequence[int]) -> list[str]:
        """One piece string per target id, specials included ("<s>", "</s>", "<pad>")."""
        return [self._tgt.id_to_piece(int(i)) for i in ids]

    def __repr__(self) -> str:
        s = self.settings
        return f"Vocab({s.model_type}, joint={s.joint}, src_size={self.src_size}, tgt_size={self.tgt_size})"
