"""Multi30k task 1 (image descriptions; en, de, fr, cs), from a local copy or downloaded and checksummed.

Splits: "train" (29,000 pairs), "val" (1,014), "test" (test_2016_flickr, 1,000), plus the later test
sets "test_2017_flickr", "test_2017_mscoco" and "test_2018_flickr" where the language pair has
them (Czech has no 2017 sets). Every raw file is pinned by its SHA-256 below, so a download from
the official repository, a mirror or a local copy is verified the same way.

Cite: Elliott et al., "Multi30K: Multilingual English-German Image Descriptions", 2016, and the
papers the dataset's README lists for the French, Czech and 2017/2018 test data.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
from collections.abc import Mapping
from pathlib import Path

import pooch
import requests

from nmt.corpora.base import CorpusError, ParallelCorpus, ParallelSplit
from nmt.corpora.reading import drop_empty_pairs, read_parallel

log = logging.getLogger(__name__)

COMMIT = "a3d2e0d26b56f3846f66a952536ffed4e401d05a"
OFFICIAL_URL = f"https://raw.githubusercontent.com/multi30k/dataset/{COMMIT}/data/task1/raw/"
LANGUAGES = ("en", "de", "fr", "cs")
# Split name -> file stem; the raw files are named "<stem>.<lang>.gz".
MAIN_SPLITS = {"train": "train", "val": "val", "test": "test_2016_flickr"}
EXTRA_TEST_SETS = ("test_2017_flickr", "test_2017_mscoco", "test_2018_flickr")

# SHA-256 of every raw file of task 1 at COMMIT. A test set exists for a language pair exactly when
# both of its files are listed here.
SHA256: dict[str, str] = {
    "test_2016_flickr.cs.gz": "200a4a74cc9560f051924abb9803be008d1908d77f747e9141aeb86dfd2797f1",
    "test_2016_flickr.de.gz": "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
    "test_2016_flickr.fr.gz": "6d326e188d259fb1d04ac19eae3af956559b3a0b93d7635e56c90987c40c8b90",
    "test_2017_flickr.de.gz": "a2c89666db00c495cd8513b9d708d5a3acc205d7de312ef2bf5fb7ebc1540aee",
    "test_2017_flickr.en.gz": "76a444ee25172e72695cddb13ae4a3bda59430617be88e0bb46b60504f054074",
    "test_2017_flickr.fr.gz": "3ba671ceb2299f3304ffafefea7a833d08632fbaf0ba18546f8a2ec2391af496",
    "test_2017_mscoco.de.gz": "799e4854c25d601cb6cb6be29eabe5667734c61ace2f495e03e429031a0bc338",
    "test_2017_mscoco.en.gz": "aab300bfb4427697987e02cd0aacd44bfe8aa50456231b6474c08038bbed2b58",
    "test_2017_mscoco.fr.gz": "754f3072ba9f124569ba5258b32730fc1d214bbf8e0c6dfb2b74401676220db0",
    "test_2018_flickr.cs.gz": "7d0a9db904f94c554a8c58049a9f3a5357c27f46cc3d710d70cb0b4a2585b8c2",
    "test_2018_flickr.de.gz": "ddd0130c7d97482dc5197a02141dae8dd79f20f03586c480d675c09a32daf608",
    "test_2018_flickr.en.gz": "ef4f4844037d4c5dea75c9a8ed5fd78905967a26f67c255e230cc9780032654d",
    "test_2018_flickr.fr.gz": "fb2b83fcceb937a4f7e3e93c1c51c22aba92f1e342391e6b5ba392b16a920501",
    "train.cs.gz": "a65adb8b32e3bc664f21ecba7a6e7f6950fd1f405e135f7c312faabdb6255077",
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "train.fr.gz": "622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c",
    "val.cs.gz": "b63226e05c4bd5dd6a42897d74b86a1b9d2c31498252c572b1ea7f7996927fcc",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    "val.fr.gz": "ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9",
}


def available_test_sets(src_lang: str, tgt_lang: str, sha256: Mapping[str, str] | None = None) -> list[str]:
    """The extra test sets (beyond "test") that exist in both languages of a pair.

    Args:
        src_lang: Source language code.
        tgt_lang: Target language code.
        sha256: The checksum table to consult (default: the official one).

    Returns:
        Names from :data:`EXTRA_TEST_SETS`, in that order.
    """
    table = SHA256 if sha256 is None else sha256
    return [t for t in EXTRA_TEST_SETS if f"{t}.{src_lang}.gz" in table and f"{t}.{tgt_lang}.gz" in table]


def _choose_test_sets(src_lang: str, tgt_lang: str, wanted: list[str] | None, table: Mapping[str, str]) -> list[str]:
    """The requested extra test sets (all available ones when None), validated against the pair."""
    available = available_test_sets(src_lang, tgt_lang, table)
    if wanted is None:
        return available
    for name in wanted:
        if name not in EXTRA_TEST_SETS:
            raise CorpusError(f"unknown Multi30k test set {name!r}; choose from {list(EXTRA_TEST_SETS)}")
        if name not in available:
            raise CorpusError(f"Multi30k has no {src_lang}-{tgt_lang} version of {name}; available: {available}")
    return list(wanted)


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _expected_hash(fname: str, table: Mapping[str, str]) -> str:
    if fname not in table:
        raise ValueError(f"no SHA-256 known for Multi30k file {fname}; add it to the checksum table")
    return table[fname]


def _from_root(root: Path, fname: str, table: Mapping[str, str]) -> Path | None:
    """The verified file ``root/fname``, or None when it is not there."""
    path = root / fname
    if not path.is_file():
        return None
    expected, actual = _expected_hash(fname, table), sha256_of(path)
    if actual != expected:
        raise CorpusError(
            f"{path}: SHA-256 {actual[:12]}… does not match the official {expected[:12]}…; the file is damaged "
            f"or from another release: replace it with {OFFICIAL_URL}{fname} (or set data.root=null to download)"
        )
    return path


def _download_error(err: Exception, url: str, expected: str) -> CorpusError:
    """A one-line CorpusError for a failed download: checksum mismatch, HTTP error or no connection."""
    if isinstance(err, ValueError):  # pooch's checksum mismatch
        got = re.search(r"but got ([0-9a-f]{64})", str(err))
        seen = f", got {got.group(1)[:12]}…" if got else ""
        return CorpusError(
            f"{url}: SHA-256 mismatch (expected {expected[:12]}…{seen}); the server sent another file: "
            "check base_url, then retry"
        )
    if isinstance(err, requests.exceptions.HTTPError) and err.response is not None:
        return CorpusError(
            f"{url}: the server answered HTTP {err.response.status_code}; check base_url (the folder of the raw files)"
        )
    return CorpusError(
        f"cannot download {url} ({type(err).__name__}); connect to the internet, "
        "or pass data.root=/path/to/multi30k (a folder holding the raw files train.en.gz, val.en.gz, …)"
    )


def _download(fname: str, base_url: str, cache: Path, table: Mapping[str, str]) -> Path:
    """Fetch one raw file into ``cache`` (or reuse a cached copy with the right checksum).

    pooch downloads into a temporary file next to the target, checks its SHA-256 and only then
    moves it into place, so an interrupted or corrupt download never lands in the cache.
    """
    url = base_url.rstrip("/") + "/" + fname
    expected = _expected_hash(fname, table)
    try:
        path = pooch.retrieve(
            url,
            known_hash=f"sha256:{expected}",
            fname=fname,
            path=cache,
            progressbar=importlib.util.find_spec("tqdm") is not None,
        )
    except (ValueError, requests.exceptions.RequestException) as err:
        # pooch raises only after trying to download, so a file already at the target failed its checksum.
        (cache / fname).unlink(missing_ok=True)
        raise _download_error(err, url, expected) from None
    return Path(path)


def _read_split(name: str, src_path: Path, tgt_path: Path) -> ParallelSplit:
    src, tgt = read_parallel(src_path, tgt_path)
    kept = drop_empty_pairs(src, tgt, f"{name} ({src_path} / {tgt_path})")
    return ParallelSplit(name=name, src=kept.src, tgt=kept.tgt)


def _check_languages(src_lang: str, tgt_lang: str) -> None:
    for lang in (src_lang, tgt_lang):
        if lang not in LANGUAGES:
            raise CorpusError(f"Multi30k has no language {lang!r}; choose from {list(LANGUAGES)}")
    if src_lang == tgt_lang:
        raise CorpusError(f"source and target language are both {src_lang!r}; choose two different languages")


def _local_files(
    root: Path, stems: dict[str, str], langs: tuple[str, str], table: Mapping[str, str]
) -> dict[str, tuple[Path, ...]]:
    """Split name -> (src, tgt) paths under ``root``; main splits must be there, missing test sets are skipped."""
    if not root.is_dir():
        raise CorpusError(f"{root}: no such folder; set data.root to a folder of Multi30k raw files, or to null")
    files, skipped = {}, []
    for split, stem in stems.items():
        paths = tuple(_from_root(root, f"{stem}.{lang}.gz", table) for lang in langs)
        if None not in paths:
            files[split] = paths
        elif split in MAIN_SPLITS:
            missing = next(f"{stem}.{lang}.gz" for lang, p in zip(langs, paths, strict=True) if p is None)
            raise CorpusError(
                f"{root / missing}: no such file; data.root must hold the Multi30k task-1 raw files "
                "(train/val/test_2016_flickr.<lang>.gz), or set data.root=null to download them"
            )
        else:
            skipped.append(split)
    if skipped:
        log.info("Multi30k: %s not in %s; skipping these test sets", ", ".join(skipped), root)
    return files


def load_multi30k(
    src_lang: str = "en",
    tgt_lang: str = "de",
    root: str | None = None,
    cache_dir: str = "~/.cache/nmt",
    base_url: str = OFFICIAL_URL,
    test_sets: list[str] | None = None,
    sha256: dict[str, str] | None = None,
) -> ParallelCorpus:
    """Load Multi30k task 1 for one language pair, from a local folder or a checksummed download.

    Args:
        src_lang: Source language: "en", "de", "fr" or "cs".
        tgt_lang: Target language, different from the source.
        root: A folder holding the raw files (``train.en.gz``, …); when given, nothing is
            downloaded, every file used is checked against its SHA-256, and extra test sets
            missing from the folder are skipped.
        cache_dir: Where downloads are kept (in ``<cache_dir>/multi30k``); ``~`` is expanded.
        base_url: Where to download the raw files from (the official repository by default).
        test_sets: Extra test sets to load besides "test" (test_2016_flickr); None loads every
            one the pair has.
        sha256: A checksum table (file name -> hex SHA-256) to use instead of the official one.

    Returns:
        A corpus named "multi30k" with splits train, val, test and the extra test sets.

    Raises:
        ValueError: Unknown or identical languages, or an unknown test set.
        CorpusError: A file is missing, fails its checksum, or cannot be downloaded.
    """
    _check_languages(src_lang, tgt_lang)
    table = SHA256 if sha256 is None else sha256
    stems = dict(MAIN_SPLITS) | {t: t for t in _choose_test_sets(src_lang, tgt_lang, test_sets, table)}
    langs = (src_lang, tgt_lang)
    if root is not None:
        files = _local_files(Path(root).expanduser(), stems, langs, table)
    else:
        cache = Path(cache_dir).expanduser() / "multi30k"
        files = {
            split: tuple(_download(f"{stem}.{lang}.gz", base_url, cache, table) for lang in langs)
            for split, stem in stems.items()
        }
    splits = {split: _read_split(split, *paths) for split, paths in files.items()}
    return ParallelCorpus(name="multi30k", src_lang=src_lang, tgt_lang=tgt_lang, splits=splits)
