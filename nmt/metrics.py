"""Corpus BLEU and chrF with sacreBLEU, on detokenised text, always with their signatures."""

from __future__ import annotations

import logging
import sys

from sacrebleu.metrics import BLEU, CHRF

log = logging.getLogger(__name__)

# sacreBLEU's own threshold: it logs a three-line "forgot to detokenize" warning once this many
# hypotheses end in a split-off period. BLEU(force=True) turns that check off (the signature is the
# same); ``_note_tokenised`` says it once per process, in one line.
_TOKENISED_LINES = 100
_noted = False


def _note_tokenised(hypotheses: list[str]) -> None:
    """One line on stderr, once per process, when the hypotheses look tokenised (as the toy corpus is)."""
    global _noted
    if _noted:
        return
    count = sum(h.endswith(" .") for h in hypotheses)
    if count >= _TOKENISED_LINES:
        _noted = True
        print(
            f"nmt: note: {count} of {len(hypotheses)} hypotheses end in a split-off period: the corpus is "
            "tokenised (the toy corpus on purpose); BLEU and chrF are computed on the text as written",
            file=sys.stderr,
        )


def _bleu(lowercase: bool = False) -> BLEU:
    """sacreBLEU's BLEU without its tokenised-input warning (``_note_tokenised`` replaces it)."""
    return BLEU(lowercase=lowercase, force=True)


def corpus_scores(hypotheses: list[str], references: list[str], lowercase: bool = False) -> dict:
    """sacreBLEU corpus BLEU (13a tokenisation) and chrF of detokenised hypotheses.

    Returns ``{"bleu": float, "chrf": float, "signature": {"bleu": str, "chrf": str}}``; the
    signatures say exactly how the numbers were computed (case, tokeniser, version).
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    _note_tokenised(hypotheses)
    bleu, chrf = _bleu(lowercase), CHRF(lowercase=lowercase)
    return {
        "bleu": round(bleu.corpus_score(hypotheses, [references]).score, 2),
        "chrf": round(chrf.corpus_score(hypotheses, [references]).score, 2),
        "signature": {"bleu": str(bleu.get_signature()), "chrf": str(chrf.get_signature())},
    }


def score_texts(hypotheses: list[str], references: list[str]) -> dict:
    """BLEU, chrF and lowercased BLEU (sacreBLEU ``-lc``), each with its signature.

    Returns ``{"bleu", "chrf", "bleu_lc", "signature": {"bleu", "chrf", "bleu_lc"}}``. When more than
    half of the hypotheses are empty, a warning says so (a BLEU near 0 would not say why).
    """
    warn_empty(hypotheses)
    cased = corpus_scores(hypotheses, references)
    bleu_lc = _bleu(lowercase=True)
    return {
        **cased,
        "bleu_lc": round(bleu_lc.corpus_score(hypotheses, [references]).score, 2),
        "signature": {**cased["signature"], "bleu_lc": str(bleu_lc.get_signature())},
    }


def warn_empty(hypotheses: list[str]) -> None:
    """One warning line when all, or more than half, of the hypotheses are empty."""
    empty = sum(not h.strip() for h in hypotheses)
    if hypotheses and empty * 2 > len(hypotheses):
        what = "all" if empty == len(hypotheses) else f"{empty} of"
        log.warning(
            "%s %d hypotheses are empty: the model wrote no words (undertrained or diverged? "
            "try checkpoint=last or a longer training), so BLEU says little",
            what,
            len(hypotheses),
        )


def corpus_bleu(hypotheses: list[str], references: list[str]) -> tuple[float, str]:
    """Case-sensitive 13a corpus BLEU and its signature (the validation metric)."""
    _note_tokenised(hypotheses)
    bleu = _bleu()
    return bleu.corpus_score(hypotheses, [references]).score, str(bleu.get_signature())
