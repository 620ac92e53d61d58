"""Raw input gets the corpus's known preprocessing (nmt.preprocess) in the one place every command goes through."""

from __future__ import annotations

import logging

import pytest
from omegaconf import OmegaConf

import nmt
from nmt.api import Translator
from nmt.corpora.toy import load_toy
from nmt.preprocess import for_data

pytestmark = pytest.mark.usefixtures("one_thread")


def test_toy_preprocessing_rewrites_raw_text_and_leaves_corpus_text_alone():
    en = for_data({"name": "toy", "src_lang": "en"})
    de = for_data({"name": "toy", "src_lang": "de"})
    assert en.apply("The man sees the dog.") == "the man sees the dog ."
    assert en.apply("Yesterday, i saw it! Did I?") == "yesterday , I saw it ! did I ?"
    assert de.apply("Der Mann sieht den Hund.") == "Der Mann sieht den Hund ."  # German nouns keep their case
    for src, tgt, pre in (("en", "de", en), ("de", "en", de)):
        corpus = load_toy(src, tgt, n_train=300, n_val=50, n_test=50)
        assert all(pre.apply(s) == s for split in corpus.splits.values() for s in split.src)
    assert for_data({"name": "multi30k", "src_lang": "en"}) is None
    assert for_data({"name": "custom", "src_lang": "xx"}) is None


def test_translator_of_a_toy_run_reads_raw_input_like_corpus_text(transformer_run, caplog):
    run = nmt.load(transformer_run)
    config = OmegaConf.merge(run.config, {"data": {"name": "toy", "src_lang": "en"}})
    toy = Translator(run.model, run.vocab, run.max_len, run.checkpoint, config)
    raw, clean = "Alpha beta, gamma.", "alpha beta , gamma ."
    with caplog.at_level(logging.WARNING, logger="nmt.api"):
        got = toy.translate([raw, clean], strategy="greedy", return_attention=True)
    assert got[0].text == got[1].text and got[0].src_pieces == got[1].src_pieces
    assert got[0].source == raw and got[0].model_source == clean  # recorded, and the source stays as typed
    notes = [r.getMessage() for r in caplog.records if "did not look like the training text" in r.getMessage()]
    assert len(notes) == 1 and "1 of 2 sentences" in notes[0] and "'alpha beta , gamma .'" in notes[0]
    assert toy.next_token(raw).probs == toy.next_token(clean).probs
    # A corpus without a known preprocessing reads the text as given.
    assert (
        run.preprocessing is None
        and run.translate([raw], strategy="greedy", return_attention=True)[0].model_source == raw
    )


def test_characters_the_training_text_never_had_get_one_warning(transformer_run, caplog):
    translator = nmt.load(transformer_run)  # trained on lower-case Latin words only (and their upper-case targets)
    with caplog.at_level(logging.WARNING, logger="nmt.api"):
        translator.translate(["alpha beta", "alpha ß€ beta", "gamma ß"], strategy="greedy")
        translator.translate(["delta ß"], strategy="greedy")
    notes = [r.getMessage() for r in caplog.records if "never had" in r.getMessage()]
    assert len(notes) == 1 and notes[0].startswith("2 of 3 sentences") and "'ß€' in 'alpha ß€ beta'" in notes[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="nmt.api"):
        nmt.load(transformer_run).translate(["alpha beta gamma"], strategy="greedy")
    assert "never had" not in caplog.text
