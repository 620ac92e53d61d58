"""The user's own parallel data (``data=custom``): per split, two line-aligned files or one TSV.

A split is described by a mapping, as written in ``conf/data/custom.yaml``::

    {"src": "train.en", "tgt": "train.de"}      # two files, aligned line by line (plain or .gz)
    {"tsv": "train.tsv"}                         # one file of source<TAB>target lines
    {"src": ..., "tgt": ..., "align": "train.align"}   # optional gold Pharaoh alignments

Keys set to None count as absent, so a config can list every key and fill in one form.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nmt.corpora.base import CorpusError, ParallelCorpus, ParallelSplit
from nmt.corpora.reading import check_alignments, drop_empty_pairs, read_lines, read_parallel, read_tsv
from nmt.corpora.streaming import StreamedPairs, streamed_split

_KEYS = ("src", "tgt", "tsv", "align")
# A training split larger than this (on disk) is streamed from its files rather than read into
# lists (nmt.corpora.streaming): the vocabulary, fingerprint and store then read it pass by pass.
STREAM_BYTES = 256 * 2**20
_EXPECTED = "give either src and tgt (two line-aligned files) or tsv (source<TAB>target lines), plus optional align"


def _paths(name: str, spec: Mapping[str, Any] | None) -> dict[str, Path]:
    """The split's set keys as expanded paths; raise a CorpusError unless they form exactly one of the two forms."""
    if spec is None or not isinstance(spec, Mapping):
        raise CorpusError(f"split {name!r}: expected a mapping of paths, got {spec!r}; {_EXPECTED}")
    unknown = sorted(str(k) for k in spec if k not in _KEYS)
    if unknown:
        raise CorpusError(f"split {name!r}: unknown key(s) {unknown}; {_EXPECTED}")
    paths = {k: Path(str(spec[k])).expanduser() for k in _KEYS if spec.get(k) not in (None, "")}
    has_pair = "src" in paths and "tgt" in paths
    if has_pair == ("tsv" in paths) or ("src" in paths) != ("tgt" in paths):
        raise CorpusError(f"split {name!r}: got keys {sorted(paths)}; {_EXPECTED}")
    return paths


def _size(paths: dict[str, Path]) -> int:
    """Bytes on disk of the split's files (compressed size for gzip: it is the cheap lower bound)."""
    return sum(p.stat().st_size for p in paths.values() if p.is_file())


def load_split(name: str, spec: Mapping[str, Any]) -> ParallelSplit:
    """Read one split from two line-aligned files or one TSV, with optional Pharaoh alignments.

    In the training split, pairs with an empty side are dropped (with one warning), and so are
    their alignment lines. A training split of more than ``STREAM_BYTES`` on disk (and without
    alignments) is not read into memory: its ``src`` and ``tgt`` stream from the files. Every
    other split keeps every line as written, so that hypotheses line up with the reference file
    (a blank source is translated as a blank line).

    Args:
        name: The split's name ("train", "val", "test" or an extra test set), for messages.
        spec: ``{"src": path, "tgt": path}`` or ``{"tsv": path}``, optionally with ``"align": path``.
            Paths may start with ``~``; relative paths are read from the launch directory.

    Returns:
        The split.

    Raises:
        CorpusError: The mapping has neither form (or both), or a file is missing or malformed.
    """
    paths = _paths(name, spec)
    if name == "train" and "align" not in paths and _size(paths) > STREAM_BYTES:
        where = f"{name} ({' / '.join(str(p) for p in paths.values())})"
        return streamed_split(name, StreamedPairs(where, **paths))
    if "tsv" in paths:
        src, tgt = read_tsv(paths["tsv"])
        where = f"{name} ({paths['tsv']})"
    else:
        src, tgt = read_parallel(paths["src"], paths["tgt"])
        where = f"{name} ({paths['src']} / {paths['tgt']})"
    alignments = None
    if "align" in paths:
        alignments = read_lines(paths["align"])
        check_alignments(alignments, src, tgt, paths["align"], where)
    if name != "train":  # scores need every line: a blank source is translated as a blank line
        return ParallelSplit(name=name, src=src, tgt=tgt, alignments=alignments)
    kept = drop_empty_pairs(src, tgt, where, alignments)
    if not kept.src:
        raise CorpusError(f"split {where}: every pair has an empty side; give files with text on both sides")
    return ParallelSplit(name=name, src=kept.src, tgt=kept.tgt, alignments=kept.alignments)


def load_files(
    src_lang: str,
    tgt_lang: str,
    train: Mapping[str, Any],
    val: Mapping[str, Any],
    test: Mapping[str, Any],
    extra_tests: Mapping[str, Mapping[str, Any]] | None = None,
) -> ParallelCorpus:
    """Load the user's own parallel corpus.

    Args:
        src_lang: Source language code (used for naming and cache keys only).
        tgt_lang: Target language code.
        train: The training split: ``{"src": path, "tgt": path}`` or ``{"tsv": path}``, optional ``"align"``.
        val: The validation split, same form.
        test: The main test split, same form.
        extra_tests: More test sets by name, e.g. ``{"test_news": {"tsv": "news.tsv"}}``.

    Returns:
        A corpus named "custom" with splits train, val, test and any extra test sets.

    Raises:
        CorpusError: A split is badly described, a file is missing or malformed, or an extra test
            set reuses the name of a main split.
    """
    specs: dict[str, Mapping[str, Any]] = {"train": train, "val": val, "test": test}
    for name, spec in (extra_tests or {}).items():
        if name in specs:
            raise CorpusError(f"extra test set {name!r} clashes with a main split; give it another name")
        specs[str(name)] = spec
    splits = {name: load_split(name, spec) for name, spec in specs.items()}
    return ParallelCorpus(name="custom", src_lang=src_lang, tgt_lang=tgt_lang, splits=splits)
