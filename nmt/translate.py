"""``python -m nmt.translate``: translate text line by line with a trained run folder.

Usage::

    python -m nmt.translate run=<run dir> [input=<file>] [output=<file>] [decode=beam|greedy|sample]
        [decode.beam_size=5 …] [nbest=K] [batch_lines=64] [checkpoint=best|last|<path>] [average=N]
        [workers=2 batch_lines=2000]
    python -m nmt.translate run=<run dir> src="The man sees the dog."     # a sentence as typed (or src=[a,b])

Reads ``src=``, or standard input (or ``input=``), and writes exactly one line per input line to standard
output (or ``output=``), flushed as it goes. On a terminal, or with ``batch_lines=1``, each line
is translated as soon as it arrives; otherwise lines are read and translated ``batch_lines`` at a
time, which is much faster. ``workers=2`` decodes each read's batches in two CPU processes
(``nmt.decoding``): the same output, both cores busy. Each read starts its processes anew, so it
pays off when a read holds many batches: with ``batch_lines=1000``, 1.31× the speed of one process
for 1,000 Multi30k sentences at beam 5 on 2 cores (docs/results/translate-workers/).

Any input is accepted: lines are split on "\\n" only (a trailing "\\r" is dropped), invalid UTF-8
becomes U+FFFD (a warning on standard error names those lines), a blank line gives an empty line,
and a source longer than the run's ``data.max_len`` pieces (or ``max_len=``) is cut there, with a
warning on standard error, exactly as ``nmt.evaluate`` and nmt.train's val/test scores cut it: one model, one output.

N-best output (``nbest=K``): K lines per input line, best first, in the format
``i ||| hypothesis ||| score`` where ``i`` is the 0-based input line number and ``score`` the
search score (beam: log-probability / GNMT length penalty; sampling: log-probability). Beam search
needs ``decode.beam_size >= K``; with ``decode=sample`` the K lines are K independent samples. A line is
never padded by repeating a hypothesis: when beam search finds fewer than K (a blank line has
one, the empty one), that input line gets fewer lines, and a warning on standard error says
how many it found.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from typing import IO, BinaryIO, TextIO

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from nmt.api import Translation, Translator
from nmt.checkpoint import load_run
from nmt.cli import CONF_DIR, prepare_argv
from nmt.corpora.base import CorpusError
from nmt.decoding import check_max_tokens, check_workers
from nmt.errors import ConfigError, one_line_errors
from nmt.search import DecodeSettings

log = logging.getLogger(__name__)

# Characters that some readers take as line breaks (str.splitlines does): never written inside a line.
_ONE_LINE = str.maketrans({c: " " for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})


def decode_line(raw: bytes) -> str:
    """One input line as text: without its "\\n" (and a "\\r" before it); invalid UTF-8 replaced."""
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw.decode("utf-8", errors="replace")


def read_chunks(source: BinaryIO, size: int, invalid: list[int] | None = None) -> Iterator[list[str]]:
    """Lists of up to ``size`` lines, split on b"\\n" only; each list is yielded as soon as it is full.

    ``invalid`` (when given) collects the 1-based numbers of lines whose invalid UTF-8 was replaced.
    """
    if size < 1:
        raise ConfigError(f"batch_lines={size} must be >= 1")
    chunk: list[str] = []
    for number, raw in enumerate(iter(source.readline, b""), start=1):
        line = decode_line(raw)
        if invalid is not None and "\ufffd" in line and not _is_utf8(raw):
            invalid.append(number)
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def warn_invalid(lines: list[int]) -> None:
    """One warning naming the lines whose invalid UTF-8 bytes were replaced by U+FFFD (the first ten)."""
    if lines:
        shown = ", ".join(map(str, lines[:10])) + (", …" if len(lines) > 10 else "")
        log.warning(
            "%d input line(s) had invalid UTF-8, replaced by U+FFFD before translating: line %s; "
            "give UTF-8 text (e.g. iconv -f latin1 -t utf-8)",
            len(lines),
            shown,
        )


def format_nbest(index: int, hyps: list[Translation], k: int) -> list[str]:
    """One line ``index ||| text ||| score`` per hypothesis found, at most ``k``: never padded with repeats."""
    return [f"{index} ||| {h.text.translate(_ONE_LINE)} ||| {h.score:.4f}" for h in hyps[:k]]


def translate_stream(
    translator: Translator,
    source: BinaryIO,
    sink: TextIO,
    settings: DecodeSettings,
    nbest: int = 1,
    batch_lines: int = 64,
    max_tokens: int = 4096,
    workers: int = 1,
) -> int:
    """Translate every line of ``source`` (bytes) into ``sink`` (text); returns the number of lines.

    Args:
        translator: the model to translate with.
        source: a binary stream (``sys.stdin.buffer``, a file opened with "rb").
        sink: a text stream; flushed after every line.
        settings: how to decode (its ``n_best`` is replaced by ``nbest``).
        nbest: 1 writes one translation per line; K > 1 writes K lines ``i ||| text ||| score``.
        batch_lines: lines translated together (1: each line as soon as it is read).
        max_tokens: batch budget in source pieces × beams.
        workers: decoding processes per read (CPU models only; see ``nmt.decoding.decode_ids``).
    """
    settings, samples = _nbest_settings(settings, nbest)
    done, invalid = 0, []
    for lines in read_chunks(source, batch_lines, invalid):
        results = translator.decode(lines, settings, max_tokens, samples=samples, workers=workers)
        for offset, hyps in enumerate(results):
            if hyps[0].truncated:
                log.warning("line %d: source longer than max_len=%s pieces, cut", done + offset + 1, translator.max_len)
            if nbest > 1:
                out = format_nbest(done + offset, hyps, nbest)
                if len(out) < nbest:
                    line = done + offset + 1
                    log.warning("line %d: the search found %d of nbest=%d hypotheses", line, len(out), nbest)
            else:
                out = [hyps[0].text.translate(_ONE_LINE)]
            sink.write("".join(line + "\n" for line in out))
            sink.flush()
        done += len(lines)
    warn_invalid(invalid)
    return done


def _nbest_settings(settings: DecodeSettings, nbest: int) -> tuple[DecodeSettings, int]:
    """Decode settings and samples per line for ``nbest`` hypotheses."""
    if nbest < 1:
        raise ConfigError(f"nbest={nbest} must be >= 1")
    if settings.strategy == "beam":
        return replace(settings, n_best=nbest), 1
    if settings.strategy == "sample":
        return replace(settings, n_best=1), nbest
    if nbest > 1:
        raise ConfigError(f"nbest={nbest} needs decode=beam (with decode.beam_size >= {nbest}) or decode=sample")
    return replace(settings, n_best=1), 1


def _open(path: str, mode: str) -> IO:
    """``input=`` ("rb") or ``output=`` ("w", UTF-8, "\\n" line ends); a one-line error naming the key if it fails."""
    try:
        if mode == "rb":
            return open(path, "rb")  # noqa: SIM115
        return open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
    except OSError as err:
        key, error, fix = ("input", CorpusError, "readable") if mode == "rb" else ("output", ConfigError, "writable")
        why = err.strerror or type(err).__name__
        raise error(f"{key}={path}: cannot open ({why}); give a {fix} file") from None


def _source(cfg: DictConfig) -> BinaryIO:
    """The lines to translate: ``src=`` (one sentence, or a list), else ``input=``, else standard input."""
    given = cfg.get("src")
    if given is None:
        return _open(cfg.input, "rb") if cfg.get("input") else sys.stdin.buffer
    if cfg.get("input"):
        raise ConfigError("src= and input= both given: translate either the sentence(s) of src= or the file of input=")
    sentences = [given] if isinstance(given, str) else [str(s) for s in given]
    return io.BytesIO("".join(" ".join(s.splitlines()) + "\n" for s in sentences).encode("utf-8"))


def _run(cfg: DictConfig) -> int:
    if OmegaConf.is_missing(cfg, "run"):
        raise ConfigError("run=… is missing: pass the folder of a run written by nmt.train, e.g. run=runs/<…>")
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    settings = DecodeSettings(**OmegaConf.to_container(cfg.decode, resolve=True))
    _nbest_settings(settings, int(cfg.nbest))  # fail before loading anything
    workers = check_workers(cfg.workers, cfg.device)
    max_tokens = check_max_tokens(cfg.max_tokens)
    max_len = cfg.get("max_len")
    run = load_run(cfg.run, cfg.checkpoint, cfg.device, int(cfg.average))
    translator = Translator.from_run(run, None if max_len is None else int(max_len))  # as nmt.evaluate
    source = _source(cfg)
    batch_lines = 1 if source is sys.stdin.buffer and sys.stdin.isatty() else int(cfg.batch_lines)
    how = {"nbest": int(cfg.nbest), "batch_lines": batch_lines, "max_tokens": max_tokens, "workers": workers}
    try:
        if cfg.get("output"):
            with _open(cfg.output, "w") as sink:
                return translate_stream(translator, source, sink, settings, **how)
        sys.stdout.reconfigure(encoding="utf-8", newline="\n")
        return translate_stream(translator, source, sys.stdout, settings, **how)
    finally:
        if source is not sys.stdin.buffer:
            source.close()


@hydra.main(config_path=str(CONF_DIR), config_name="translate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        with one_line_errors("nmt.translate"):
            _run(cfg)
    except BrokenPipeError:  # e.g. `| head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


def cli() -> None:
    """The ``nmt-translate`` console script (and ``python -m nmt.translate``)."""
    prepare_argv("nmt.translate", "translate", text_keys=("src", "input", "output"))
    main()


if __name__ == "__main__":
    cli()
