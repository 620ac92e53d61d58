"""nmt.translate: one output line per input line, whatever the input; n-best format; the command."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest

import nmt
from nmt.search import DecodeSettings
from nmt.translate import read_chunks, translate_stream

LONG = " ".join(["alpha"] * 5000)
# Blank lines, a 5,000-word line, characters str.splitlines() would split on, a CRLF line, invalid
# UTF-8, a NUL byte, and no final newline.
HOSTILE = (
    b"alpha beta\n"
    b"\n"
    b"   \n" + LONG.encode() + b"\n"
    b"gamma\x0bdelta\x1cmu\xe2\x80\xa8nu\x0cxi\rpi\n"
    b"beta alpha\r\n"
    b"\xff\xfe broken \xc3 utf8\n"
    b"nul\x00byte\n"
    b"last line without newline"
)
N_LINES = 9
GREEDY = DecodeSettings("greedy", max_len_a=0.5, max_len_b=6)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def translator(transformer_run):
    return nmt.load(transformer_run)


def _run(translator, data: bytes, settings=GREEDY, **kwargs) -> str:
    sink = io.StringIO()
    translate_stream(translator, io.BytesIO(data), sink, settings, **kwargs)
    return sink.getvalue()


def test_lines_are_split_on_newline_only():
    chunks = list(read_chunks(io.BytesIO(HOSTILE), 4))
    assert [len(c) for c in chunks] == [4, 4, 1]
    lines = [line for c in chunks for line in c]
    assert lines[4] == "gamma\x0bdelta\x1cmu\u2028nu\x0cxi\rpi" and lines[5] == "beta alpha"
    assert "\ufffd" in lines[6] and lines[7] == "nul\x00byte" and lines[8] == "last line without newline"


@pytest.mark.parametrize("batch_lines", [1, 4, 64])
def test_hostile_input_keeps_one_line_per_line(translator, batch_lines, caplog):
    out = _run(translator, HOSTILE, batch_lines=batch_lines)
    lines = out.split("\n")
    assert lines[-1] == "" and len(lines) - 1 == N_LINES
    assert lines[1] == "" and lines[2] == ""
    assert "line 4: source longer than max_len" in caplog.text
    replaced = [r.getMessage() for r in caplog.records if "invalid UTF-8" in r.getMessage()]
    assert replaced == [replaced[0]] and "1 input line(s)" in replaced[0] and "line 7;" in replaced[0]


def test_output_does_not_depend_on_the_chunk_size(translator):
    assert _run(translator, HOSTILE, batch_lines=1) == _run(translator, HOSTILE, batch_lines=64)


def test_each_line_is_written_before_the_next_is_read(translator):
    sink = io.StringIO()

    class Source:
        lines = [b"alpha beta\n", b"gamma\n", b""]

        def readline(self) -> bytes:
            written = sink.getvalue().count("\n")
            assert written == 2 - len(self.lines) + 1, "a line was read before the previous one was answered"
            return self.lines.pop(0)

    assert translate_stream(translator, Source(), sink, GREEDY, batch_lines=1) == 2


NBEST = re.compile(r"^(\d+) \|\|\| (.*) \|\|\| (-?\d+\.\d{4})$")


@pytest.mark.parametrize("settings", [DecodeSettings("beam", beam_size=3), DecodeSettings("sample", seed=1)])
def test_nbest_writes_k_lines_per_input(translator, settings):
    out = _run(translator, b"alpha beta\n\ndelta mu\n", settings, nbest=3).split("\n")[:-1]
    parsed = [NBEST.match(line) for line in out]
    assert all(parsed), out
    assert [int(m.group(1)) for m in parsed] == [0, 0, 0, 1, 2, 2, 2]  # the blank line has one: the empty one
    for i in (0, 2):
        lines = [m for m in parsed if int(m.group(1)) == i]
        scores = [float(m.group(3)) for m in lines]
        assert scores == sorted(scores, reverse=True)
        if settings.strategy == "beam":  # distinct hypotheses: none repeated to fill the list
            assert len({(m.group(2), m.group(3)) for m in lines}) == len(lines)
    assert parsed[3].group(2) == ""


@pytest.mark.parametrize("beam_size", [3, 5])
def test_nbest_is_never_padded_with_repeats(translator, beam_size, caplog):
    """n_best = beam_size where the search can only find one hypothesis: one line, and a warning that says so."""
    one = DecodeSettings("beam", beam_size=beam_size, max_len_a=0.0, max_len_b=0)  # only EOS may be written
    with caplog.at_level("WARNING", logger="nmt.translate"):
        out = _run(translator, b"alpha beta\ndelta mu\n", one, nbest=beam_size).split("\n")[:-1]
    assert [int(NBEST.match(line).group(1)) for line in out] == [0, 1]
    assert f"line 2: the search found 1 of nbest={beam_size} hypotheses" in caplog.text
    found = translator.translate(["alpha beta"], beam_size=beam_size, n_best=beam_size, max_len_a=0, max_len_b=0)
    assert [len(hyps) for hyps in found] == [1]
    full = translator.translate(["alpha beta gamma"], beam_size=beam_size, n_best=beam_size)[0]
    assert 1 <= len(full) <= beam_size and len({tuple(h.tgt_pieces) for h in full}) == len(full)


def test_two_decoding_processes_write_the_same_lines(translator):
    """workers=2 shares each read's batches between two processes: the same lines, n-best and scores too."""
    data = b"".join(f"{w} beta alpha {w}\n".encode() for w in ("alpha", "beta", "gamma", "delta") * 6)
    beam = DecodeSettings("beam", beam_size=3, max_len_a=0.5, max_len_b=6)
    kwargs = {"nbest": 2, "batch_lines": 16, "max_tokens": 40}  # several batches per read of 16 lines
    one, two = (_run(translator, data, beam, workers=w, **kwargs) for w in (1, 2))
    assert two == one and one.count("\n") >= 24


@pytest.mark.parametrize("workers", ["0", "two"])
def test_bad_worker_counts_fail_before_loading(tmp_path, workers):
    cmd = [sys.executable, "-m", "nmt.translate", f"run={tmp_path}", f"workers={workers}", "src=a"]  # no run in it
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"workers={workers}: give the number of decoding processes" in done.stderr


def test_a_bad_batch_budget_fails_before_loading(tmp_path):
    cmd = [sys.executable, "-m", "nmt.translate", f"run={tmp_path}", "max_tokens=0", "src=a"]  # no run in it
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and done.stderr == (
        "nmt.translate: error: max_tokens=0: give the batch budget in padded token positions per batch, "
        "a whole number >= 1, e.g. 4096\n"
    ), done.stderr


def test_nbest_with_greedy_is_refused(translator):
    with pytest.raises(ValueError, match="decode=beam"):
        _run(translator, b"alpha\n", GREEDY, nbest=2)


@pytest.mark.slow
def test_the_command_survives_hostile_stdin(transformer_run, tmp_path):
    cmd = [sys.executable, "-m", "nmt.translate", f"run={transformer_run}", "decode=greedy", "decode.max_len_b=6"]
    done = subprocess.run(cmd, input=HOSTILE, capture_output=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.count(b"\n") == N_LINES and done.stdout.endswith(b"\n")
    assert done.stdout.split(b"\n")[1:3] == [b"", b""]
    assert b"line 4: source longer than max_len=128 pieces" in done.stderr
    assert b"invalid UTF-8, replaced by U+FFFD before translating: line 7;" in done.stderr
    assert list(tmp_path.iterdir()) == []  # no .hydra/, outputs/ or logs


@pytest.mark.slow
def test_the_command_reads_and_writes_files_with_nbest(transformer_run, tmp_path):
    src, out = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_bytes(b"alpha beta\ngamma delta\n")
    cmd = [sys.executable, "-m", "nmt.translate", f"run={transformer_run}", f"input={src}", f"output={out}", "nbest=2"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = out.read_text(encoding="utf-8").split("\n")[:-1]
    assert len(lines) == 4 and all(NBEST.match(line) for line in lines) and done.stdout == ""


@pytest.mark.slow
def test_src_takes_sentences_as_typed_like_stdin(transformer_run, tmp_path):
    """``src=`` (as nmt.plot has it): a sentence with commas and quotes, or a list, gives what stdin gives."""
    base = [sys.executable, "-m", "nmt.translate", f"run={transformer_run}", "decode=greedy"]
    typed = 'the man, who sees "the dog" , sleeps .'
    piped = subprocess.run(base, input=f"{typed}\nthe dog sleeps .\n", capture_output=True, text=True, cwd=tmp_path)
    one = subprocess.run([*base, f"src={typed}"], capture_output=True, text=True, cwd=tmp_path)
    both = subprocess.run([*base, "src=[the man sleeps .,the dog sleeps .]"], capture_output=True, text=True)
    assert piped.returncode == one.returncode == both.returncode == 0, one.stderr + both.stderr
    assert one.stdout == piped.stdout.split("\n")[0] + "\n"
    assert both.stdout.count("\n") == 2 and both.stdout.split("\n")[1] == piped.stdout.split("\n")[1]
    clash = subprocess.run([*base, f"src={typed}", "input=x.txt"], capture_output=True, text=True, cwd=tmp_path)
    assert clash.returncode == 2 and clash.stderr.count("\n") == 1 and "src= and input= both given" in clash.stderr
