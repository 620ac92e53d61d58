"""Parallel corpora: each source returns a ParallelCorpus (see base.py)."""

from nmt.corpora.base import CorpusError, ParallelCorpus, ParallelSplit

__all__ = ["CorpusError", "ParallelCorpus", "ParallelSplit"]
