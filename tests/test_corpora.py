"""Reading parallel text, Multi30k (local root, download, cache, checksums, offline) and custom files."""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import socket
import threading
from collections import Counter
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from nmt.corpora.base import CorpusError
from nmt.corpora.files import load_files
from nmt.corpora.multi30k import SHA256, available_test_sets, load_multi30k, sha256_of
from nmt.corpora.reading import drop_empty_pairs, read_lines, read_parallel, read_tsv

REAL_ROOT = Path("/work/shared/data/multi30k")
CONF = Path(__file__).resolve().parents[1] / "conf" / "data"


def write_gz(path: Path, lines: list[str]) -> Path:
    path.write_bytes(gzip.compress("".join(f"{line}\n" for line in lines).encode()))
    return path


# --------------------------------------------------------------------------- reading


def test_read_plain_keeps_text_and_strips_only_line_breaks(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes("one\r\n two  \nthree\u2028still three\n\nlast".encode())
    assert read_lines(path) == ["one", " two  ", "three\u2028still three", "", "last"]


def test_read_gz_is_detected_by_magic_bytes_not_suffix(tmp_path):
    lines = ["Ein Hund läuft.", "Zwei Männer."]
    gz_named_txt = tmp_path / "de.txt"
    gz_named_txt.write_bytes(gzip.compress("\n".join(lines).encode() + b"\n"))
    plain_named_gz = tmp_path / "de.gz"
    plain_named_gz.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert read_lines(gz_named_txt) == lines
    assert read_lines(plain_named_gz) == lines


def test_bom_is_stripped(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfhello\nworld\n")
    assert read_lines(path) == ["hello", "world"]
    write_gz(tmp_path / "bom.gz", ["\ufeffhi"])
    assert read_lines(tmp_path / "bom.gz") == ["hi"]


def test_missing_and_empty_files_name_the_file(tmp_path):
    with pytest.raises(CorpusError, match=r"nope\.en: no such file"):
        read_lines(tmp_path / "nope.en")
    (tmp_path / "empty.en").write_bytes(b"")
    with pytest.raises(CorpusError, match=r"empty\.en: the file is empty"):
        read_lines(tmp_path / "empty.en")
    write_gz(tmp_path / "empty.gz", [])
    with pytest.raises(CorpusError, match=r"empty\.gz: the file is empty"):
        read_lines(tmp_path / "empty.gz")


def test_damaged_gzip_is_a_corpus_error(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(b"a line\n" * 100)[:20])
    with pytest.raises(CorpusError, match=r"cut\.gz: damaged gzip"):
        read_lines(path)


@pytest.mark.parametrize("compress", [False, True])
def test_invalid_utf8_names_line_and_offset(tmp_path, compress):
    data = b"fine\nalso fine\ncaf\xe9 latin1\n"
    path = tmp_path / "latin.txt"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(CorpusError) as info:
        read_lines(path)
    message = str(info.value)
    offset = data.index(b"\xe9")
    assert f"{path}:3: invalid UTF-8 at byte offset {offset}" in message
    assert "iconv -f latin1 -t utf-8" in message
    assert "\n" not in message


def test_parallel_files_must_have_equal_line_counts(tmp_path):
    (tmp_path / "a.en").write_text("1\n2\n3\n", encoding="utf-8")
    (tmp_path / "a.de").write_text("1\n2\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"a\.en has 3 lines, .*a\.de has 2; parallel files must be line-aligned"):
        read_parallel(tmp_path / "a.en", tmp_path / "a.de")


def test_tsv_reads_pairs_and_rejects_lines_without_exactly_one_tab(tmp_path):
    good = tmp_path / "good.tsv"
    good.write_text("a b\tx y\n\nc\tz\n", encoding="utf-8")
    assert read_tsv(good) == (["a b", "", "c"], ["x y", "", "z"])
    for name, bad_line in [("none.tsv", "no tab here"), ("two.tsv", "a\tb\tc")]:
        path = tmp_path / name
        path.write_text(f"a\tb\n{bad_line}\n", encoding="utf-8")
        with pytest.raises(CorpusError, match=rf"{name}:2: expected exactly one tab"):
            read_tsv(path)


def test_empty_pairs_are_dropped_counted_and_logged(caplog):
    src = [" a b ", "", "c", "d", "\t"]
    tgt = ["x", "y", "  ", "w  w", "v"]
    align = ["0-0", "", "0-0", "0-1", "0-0"]
    with caplog.at_level(logging.WARNING):
        kept = drop_empty_pairs(src, tgt, "train (s.en / s.de)", align)
    assert kept.src == ["a b", "d"] and kept.tgt == ["x", "w  w"]
    assert kept.alignments == ["0-0", "0-1"]
    assert kept.dropped == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "3 of 5" in warnings[0] and "s.en / s.de" in warnings[0]


def test_no_warning_when_nothing_is_dropped(caplog):
    with caplog.at_level(logging.WARNING):
        kept = drop_empty_pairs(["a"], ["b"], "here")
    assert kept.dropped == 0 and kept.alignments is None
    assert not caplog.records


# --------------------------------------------------------------------------- Multi30k

TINY = {
    "train": (
        ["A dog runs.", "Two men talk.", "A red car."],
        ["Ein Hund rennt.", "Zwei Männer reden.", "Ein rotes Auto."],
    ),
    "val": (["A cat.", "A bird."], ["Eine Katze.", "Ein Vogel."]),
    "test_2016_flickr": (["A boy."], ["Ein Junge."]),
    "test_2017_flickr": (["A girl.", "A tree."], ["Ein Mädchen.", "Ein Baum."]),
}


@pytest.fixture
def tiny_root(tmp_path) -> tuple[Path, dict[str, str]]:
    """A fake Multi30k folder (en, de) and its checksum table; test_2017_flickr is in the table."""
    root = tmp_path / "m30k"
    root.mkdir()
    for stem, (en, de) in TINY.items():
        write_gz(root / f"{stem}.en.gz", en)
        write_gz(root / f"{stem}.de.gz", de)
    table = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.iterdir()}
    return root, table


@pytest.fixture
def server(tiny_root):
    """An HTTP server on 127.0.0.1 serving the fake folder; yields (base_url, Counter of requested paths)."""
    root, _ = tiny_root
    hits: Counter[str] = Counter()

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            hits[self.path] += 1
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", hits
    httpd.shutdown()
    httpd.server_close()


def test_multi30k_from_local_root(tiny_root, caplog):
    root, table = tiny_root
    (root / "test_2017_flickr.de.gz").unlink()
    table["test_2017_mscoco.en.gz"] = table["test_2017_mscoco.de.gz"] = "0" * 64  # listed, not in root
    with caplog.at_level(logging.INFO, logger="nmt.corpora.multi30k"):
        corpus = load_multi30k("en", "de", root=str(root), sha256=table)
    assert {k: len(v) for k, v in corpus.splits.items()} == {"train": 3, "val": 2, "test": 1}
    assert corpus.splits["train"].tgt[1] == "Zwei Männer reden."
    assert (corpus.src_lang, corpus.tgt_lang, corpus.name) == ("en", "de", "multi30k")
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skipped) == 1 and "test_2017_flickr" in skipped[0] and "test_2017_mscoco" in skipped[0]


def test_multi30k_root_loads_extra_test_sets_and_reverse_direction(tiny_root):
    root, table = tiny_root
    corpus = load_multi30k("de", "en", root=str(root), sha256=table)
    assert corpus.splits["test_2017_flickr"].src == ["Ein Mädchen.", "Ein Baum."]
    assert corpus.splits["train"].tgt[0] == "A dog runs."
    only_main = load_multi30k("en", "de", root=str(root), sha256=table, test_sets=[])
    assert set(only_main.splits) == {"train", "val", "test"}


def test_multi30k_root_checks_checksums_and_missing_files(tiny_root):
    root, table = tiny_root
    write_gz(root / "val.de.gz", ["Eine Katze.", "Ein Fisch."])
    with pytest.raises(CorpusError, match=r"val\.de\.gz: SHA-256 .* does not match"):
        load_multi30k(root=str(root), sha256=table)
    (root / "val.de.gz").unlink()
    with pytest.raises(CorpusError, match=r"val\.de\.gz: no such file.*data\.root"):
        load_multi30k(root=str(root), sha256=table)
    with pytest.raises(CorpusError, match="no such folder"):
        load_multi30k(root=str(root / "absent"), sha256=table)


def test_multi30k_rejects_bad_languages_and_test_sets(tiny_root):
    root, table = tiny_root
    with pytest.raises(ValueError, match="both 'en'"):
        load_multi30k("en", "en", root=str(root), sha256=table)
    with pytest.raises(ValueError, match="no language 'xx'"):
        load_multi30k("en", "xx", root=str(root), sha256=table)
    with pytest.raises(ValueError, match="unknown Multi30k test set"):
        load_multi30k(root=str(root), sha256=table, test_sets=["test_2099"])
    with pytest.raises(ValueError, match="no en-cs version of test_2017_mscoco"):
        load_multi30k("en", "cs", test_sets=["test_2017_mscoco"])


def test_available_test_sets_follow_the_official_table():
    assert available_test_sets("en", "de") == ["test_2017_flickr", "test_2017_mscoco", "test_2018_flickr"]
    assert available_test_sets("fr", "en") == ["test_2017_flickr", "test_2017_mscoco", "test_2018_flickr"]
    assert available_test_sets("en", "cs") == ["test_2018_flickr"]
    assert available_test_sets("cs", "de") == ["test_2018_flickr"]


def test_multi30k_download_then_cache(tiny_root, server, tmp_path):
    root, table = tiny_root
    url, hits = server
    cache = tmp_path / "cache"
    corpus = load_multi30k(cache_dir=str(cache), base_url=url, sha256=table)
    assert {k: len(v) for k, v in corpus.splits.items()} == {"train": 3, "val": 2, "test": 1, "test_2017_flickr": 2}
    assert corpus.splits["val"].src == ["A cat.", "A bird."]
    assert sorted(p.name for p in (cache / "multi30k").iterdir()) == sorted(table)  # no temp files left
    requests_made = sum(hits.values())
    assert requests_made == len(table)
    again = load_multi30k(cache_dir=str(cache), base_url=url, sha256=table)
    assert sum(hits.values()) == requests_made  # served from the cache
    assert again.fingerprint() == corpus.fingerprint()


def test_multi30k_download_checksum_mismatch_leaves_nothing_in_cache(tiny_root, server, tmp_path):
    _, table = tiny_root
    url, _ = server
    cache = tmp_path / "cache"
    (cache / "multi30k").mkdir(parents=True)
    (cache / "multi30k" / "val.en.gz").write_bytes(b"an older, damaged copy")
    wrong = dict(table, **{"val.en.gz": "f" * 64})
    pattern = r"val\.en\.gz: SHA-256 mismatch \(expected ffffffffffff…, got [0-9a-f]{12}…"
    with pytest.raises(CorpusError, match=pattern):
        load_multi30k(cache_dir=str(cache), base_url=url, sha256=wrong)
    assert sorted(p.name for p in (cache / "multi30k").iterdir()) == ["train.de.gz", "train.en.gz"]


def test_multi30k_corrupt_cached_file_is_replaced(tiny_root, server, tmp_path):
    _, table = tiny_root
    url, hits = server
    cache = tmp_path / "cache"
    (cache / "multi30k").mkdir(parents=True)
    (cache / "multi30k" / "train.en.gz").write_bytes(b"half a downl")
    corpus = load_multi30k(cache_dir=str(cache), base_url=url, sha256=table, test_sets=[])
    assert len(corpus.splits["train"]) == 3
    assert hits["/train.en.gz"] == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_multi30k_offline_gives_one_clear_error(tmp_path):
    with pytest.raises(CorpusError) as info:
        load_multi30k(cache_dir=str(tmp_path), base_url=f"http://127.0.0.1:{free_port()}/raw/")
    message = str(info.value)
    assert "cannot download http://127.0.0.1:" in message and "train.en.gz" in message
    assert "connect to the internet" in message and "data.root=/path/to/multi30k" in message
    assert "\n" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_multi30k_http_error_names_the_status(tiny_root, server, tmp_path):
    _, table = tiny_root
    url, _ = server
    with pytest.raises(CorpusError, match="HTTP 404"):
        load_multi30k(cache_dir=str(tmp_path), base_url=url + "missing/", sha256=table)


def test_embedded_table_matches_the_shared_sums():
    sums = REAL_ROOT / "SHA256SUMS"
    if not sums.exists():
        pytest.skip(f"{sums} is absent")
    listed = dict(line.split()[::-1] for line in sums.read_text().splitlines() if line.strip())
    assert listed == SHA256


@pytest.mark.skipif(not REAL_ROOT.is_dir(), reason=f"the local Multi30k copy {REAL_ROOT} is absent")
def test_real_local_copy_loads_with_official_sizes_and_checksums():
    for path in REAL_ROOT.glob("*.gz"):
        assert sha256_of(path) == SHA256[path.name], path
    corpus = load_multi30k("en", "de", root=str(REAL_ROOT))
    assert {k: len(v) for k, v in corpus.splits.items()} == {"train": 29000, "val": 1014, "test": 1000}
    assert all(s and t for s, t in zip(corpus.splits["train"].src, corpus.splits["train"].tgt, strict=True))
    cs_fr = load_multi30k("cs", "fr", root=str(REAL_ROOT))
    assert len(cs_fr.splits["val"]) == 1014 and cs_fr.src_lang == "cs"


# --------------------------------------------------------------------------- custom files


def test_custom_files_tsv_and_extra_tests(tmp_path, caplog):
    write_gz(tmp_path / "train.en.gz", ["a b", "", "c d e"])
    (tmp_path / "train.de").write_text("x\ny\nz w\n", encoding="utf-8")
    (tmp_path / "val.tsv").write_text("v1\tw1\nv2\tw2\n", encoding="utf-8")
    (tmp_path / "test.tsv").write_text("t\tu\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        corpus = load_files(
            "en",
            "de",
            train={"src": str(tmp_path / "train.en.gz"), "tgt": str(tmp_path / "train.de")},
            val={"tsv": str(tmp_path / "val.tsv")},
            test={"tsv": str(tmp_path / "test.tsv"), "src": None, "tgt": None, "align": None},
            extra_tests={"news": {"tsv": str(tmp_path / "test.tsv")}},
        )
    assert corpus.name == "custom" and set(corpus.splits) == {"train", "val", "test", "news"}
    assert corpus.splits["train"].src == ["a b", "c d e"] and corpus.splits["train"].tgt == ["x", "z w"]
    assert corpus.splits["val"].tgt == ["w1", "w2"] and corpus.splits["train"].alignments is None
    assert any("1 of 3" in r.getMessage() and "train.en.gz" in r.getMessage() for r in caplog.records)


def test_custom_alignments_follow_dropped_training_pairs(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "pairs.tsv").write_text("a b\tx y\n \t \nc\tz w\n", encoding="utf-8")
    (tmp_path / "pairs.align").write_text("0-1 1-0\n\n0-0 0-1\n", encoding="utf-8")
    split = {"tsv": "~/pairs.tsv", "align": "~/pairs.align"}
    corpus = load_files("en", "de", train=split, val=split, test=split)
    assert corpus.splits["train"].src == ["a b", "c"]
    assert corpus.splits["train"].alignments == ["0-1 1-0", "0-0 0-1"]
    # Evaluation splits keep every line, so hypotheses line up with the reference file.
    assert corpus.splits["test"].src == ["a b", "", "c"] and corpus.splits["val"].tgt == ["x y", "", "z w"]
    assert corpus.splits["test"].alignments == ["0-1 1-0", "", "0-0 0-1"]


def test_custom_alignment_errors(tmp_path):
    (tmp_path / "p.tsv").write_text("a b\tx\n", encoding="utf-8")
    cases = {"count.align": "0-0\n0-0\n", "format.align": "0:0\n", "range.align": "2-0\n"}
    patterns = {
        "count.align": "has 2 lines",
        "format.align": r":1: '0:0' is not",
        "range.align": r":1: link 2-0 points",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        split = {"tsv": str(tmp_path / "p.tsv"), "align": str(tmp_path / name)}
        with pytest.raises(CorpusError, match=patterns[name]):
            load_files("en", "de", train=split, val=split, test=split)


@pytest.mark.parametrize(
    "spec, pattern",
    [
        ({}, r"split 'val': got keys \[\]; give either src and tgt .* or tsv"),
        ({"src": "a"}, r"split 'val': got keys \['src'\]"),
        ({"src": "a", "tgt": "b", "tsv": "c"}, r"split 'val': got keys"),
        ({"source": "a", "target": "b"}, r"split 'val': unknown key\(s\) \['source', 'target'\]"),
        (None, r"split 'val': expected a mapping"),
    ],
)
def test_custom_split_without_a_valid_form(tmp_path, spec, pattern):
    (tmp_path / "ok.tsv").write_text("a\tb\n", encoding="utf-8")
    ok = {"tsv": str(tmp_path / "ok.tsv")}
    with pytest.raises(CorpusError, match=pattern):
        load_files("en", "de", train=ok, val=spec, test=ok)


def test_custom_extra_test_cannot_shadow_a_main_split(tmp_path):
    (tmp_path / "ok.tsv").write_text("a\tb\n", encoding="utf-8")
    ok = {"tsv": str(tmp_path / "ok.tsv")}
    with pytest.raises(CorpusError, match="'val' clashes"):
        load_files("en", "de", train=ok, val=ok, test=ok, extra_tests={"val": ok})


# --------------------------------------------------------------------------- configs


def test_data_configs_instantiate(tmp_path):
    from hydra.utils import instantiate

    tsv = tmp_path / "p.tsv"
    tsv.write_text("a\tb\n", encoding="utf-8")
    custom = OmegaConf.create({"cache_dir": str(tmp_path), "data": OmegaConf.load(CONF / "custom.yaml")})
    settings = {"src_lang": "en", "tgt_lang": "de", "train.tsv": tsv, "val.tsv": tsv, "test.tsv": tsv}
    for key, value in settings.items():
        OmegaConf.update(custom, f"data.{key}", str(value))
    assert set(instantiate(custom.data.corpus).splits) == {"train", "val", "test"}

    m30k = OmegaConf.create({"cache_dir": str(tmp_path), "data": OmegaConf.load(CONF / "multi30k.yaml")})
    assert (m30k.data.src_lang, m30k.data.tgt_lang, m30k.data.root) == ("en", "de", None)
    if REAL_ROOT.is_dir():
        OmegaConf.update(m30k, "data.root", str(REAL_ROOT))
        assert len(instantiate(m30k.data.corpus).splits["test"]) == 1000
