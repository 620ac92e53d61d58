"""``python -m nmt.plot``: heatmap files for each mode, tick labels, the alignment table, errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from nmt.align import word_strings
from nmt.attention_maps import teacher_forced
from nmt.checkpoint import load_run
from nmt.corpora.base import CorpusError
from nmt.plot import plot, sentence_figures

CONF = Path(__file__).resolve().parents[1] / "conf"
RUNS = ["transformer_run", "rnn_run"]
TINY = {"transformer": (2, 4), "rnn": (1, 1)}  # (decoder layers, heads) of the fixture runs


def compose_plot(*overrides: str):
    """The plot config with ``overrides``; a low dpi keeps rendering fast (test_figures checks the look)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="plot", overrides=["dpi=40", *overrides])


def _names(paths: list[Path]) -> set[str]:
    assert paths and all(p.is_file() and p.stat().st_size > 0 for p in paths)
    return {p.name for p in paths}


def _cross_names(stem: str, model: str, ext: str = "png", panels: bool = True) -> set[str]:
    """The cross-attention files of one sentence; ``panels``: with each layer's single head-average panel."""
    if model == "rnn":
        return {f"{stem}-cross.{ext}"}
    layers = TINY[model][0] if panels else 0
    return {f"{stem}-cross-grid.{ext}"} | {f"{stem}-cross-layer{k}-avg.{ext}" for k in range(1, layers + 1)}


def _relative(paths: list[Path], root: Path) -> set[str]:
    """The written files as paths under ``root`` (thumbnails share their figure's name, in thumbs/)."""
    assert paths and all(p.is_file() and p.stat().st_size > 0 for p in paths)
    return {p.relative_to(root).as_posix() for p in paths}


def _indexed(figures: set[str]) -> set[str]:
    """``figures`` with the thumbnail of each (png whatever the figure's format) and the index page."""
    return figures | {f"thumbs/{Path(f).with_suffix('.png').name}" for f in figures} | {"index.html"}


def _ticks(ax, axis: str) -> list[str]:
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [t.get_text() for t in labels]


# --------------------------------------------------------------------------- heatmap files per mode


@pytest.mark.parametrize("fixture", RUNS)
def test_src_sentence_is_translated_and_drawn(fixture, request, tmp_path, capsys):
    run_dir = request.getfixturevalue(fixture)
    written = plot(compose_plot(f"run={run_dir}", "src=alpha beta", f"output={tmp_path}", "decode=greedy"))
    assert _names(written) == _cross_names("alpha-beta", fixture.removesuffix("_run"))
    assert f"wrote {len(written)} file(s) to {tmp_path}" in capsys.readouterr().out


def test_default_output_is_outside_the_run_unless_saved(rnn_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    written = plot(compose_plot(f"run={rnn_run}", "src=beta delta"))
    assert {p.parent for p in written} == {Path("nmt-output") / rnn_run.parent.name / rnn_run.name / "plots"}
    saved = plot(compose_plot(f"run={rnn_run}", "src=beta delta", "save=true"))
    assert {p.parent for p in saved} == {rnn_run / "plots"}


def test_forced_target_in_every_format(transformer_run, tmp_path):
    cfg = compose_plot(
        f"run={transformer_run}", "src=alpha beta", "tgt=BETA ALPHA", "formats=[png,svg,pdf]", f"output={tmp_path}"
    )
    names = _names(plot(cfg))
    assert names == set().union(
        *(_cross_names("alpha-beta-forced", "transformer", ext) for ext in ("png", "svg", "pdf"))
    )


@pytest.mark.parametrize(("fixture", "mode"), [(run, "force") for run in RUNS] + [("rnn_run", "decode")])
def test_first_n_sentences_of_a_split(fixture, mode, request, tmp_path):
    run_dir = request.getfixturevalue(fixture)
    cfg = compose_plot(f"run={run_dir}", "split=test", "n=2", f"mode={mode}", f"output={tmp_path}", "decode=greedy")
    tag = "-decoded" if mode == "decode" else ""
    model = fixture.removesuffix("_run")
    # a split's Transformer figures are its grids only: they show every single panel already
    figures = _cross_names(f"test-000{tag}", model, panels=False) | _cross_names(f"test-001{tag}", model, panels=False)
    assert _relative(plot(cfg), tmp_path) == _indexed(figures)
    assert "test #1 · " in (tmp_path / "index.html").read_text(encoding="utf-8")


def _thumbnails(index: Path) -> dict[str, str]:
    """Figure file -> its thumbnail, from the links of an index page (a thumbnail is linked to its figure)."""
    pairs = re.findall(r'<a href="([^"]+)"><img src="([^"]+)"', index.read_text(encoding="utf-8"))
    assert len(pairs) == len(dict(pairs))
    return dict(pairs)


@pytest.mark.parametrize("fixture", RUNS)
def test_index_links_every_figure_to_a_small_thumbnail(fixture, request, tmp_path):
    from PIL import Image

    run_dir = request.getfixturevalue(fixture)
    written = plot(compose_plot(f"run={run_dir}", "split=test", "n=3", "dpi=100", f"output={tmp_path}"))
    figures = {p.name for p in written if p.parent == tmp_path and p.suffix == ".png"}
    thumbnails = _thumbnails(tmp_path / "index.html")
    assert set(thumbnails) == figures and len(figures) == 3  # every figure, once
    for figure, thumbnail in thumbnails.items():
        assert thumbnail == f"thumbs/{figure}"  # relative links: the folder can be moved
        big, small = tmp_path / figure, tmp_path / thumbnail
        assert small.stat().st_size < big.stat().st_size
        with Image.open(big) as full, Image.open(small) as thumb:
            assert thumb.width < full.width and thumb.height < full.height
            assert thumb.width <= 400 and thumb.height <= 300
            assert abs(thumb.width / thumb.height - full.width / full.height) < 0.05  # proportions kept


def test_index_without_png_figures_still_has_thumbnails(transformer_run, tmp_path):
    cfg = compose_plot(f"run={transformer_run}", "split=test", "n=1", "formats=[svg,pdf]", f"output={tmp_path}")
    written = plot(cfg)
    assert _relative(written, tmp_path) == _indexed({"test-000-cross-grid.svg", "test-000-cross-grid.pdf"})
    assert _thumbnails(tmp_path / "index.html") == {"test-000-cross-grid.svg": "thumbs/test-000-cross-grid.png"}
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert '<a href="test-000-cross-grid.pdf">pdf</a>' in page  # every format is linked


def test_panels_bring_single_panels_back_to_a_split(transformer_run, tmp_path):
    cfg = compose_plot(f"run={transformer_run}", "split=test", "n=1", "panels=avg", f"output={tmp_path}")
    assert _relative(plot(cfg), tmp_path) == _indexed(_cross_names("test-000", "transformer"))
    cfg = compose_plot(f"run={transformer_run}", "src=alpha", "panels=none", f"output={tmp_path / 'one'}")
    assert _names(plot(cfg)) == {"alpha-cross-grid.png"}


@pytest.mark.parametrize("fixture", RUNS)
def test_words_and_self_attention_files(fixture, request, tmp_path, capsys):
    run_dir = request.getfixturevalue(fixture)
    cfg = compose_plot(f"run={run_dir}", "split=val", "n=1", "words=true", "self_attention=true", f"output={tmp_path}")
    names = _relative(plot(cfg), tmp_path)
    model = fixture.removesuffix("_run")
    expected = _cross_names("val-000", model, panels=False)
    if model == "transformer":
        expected |= {"val-000-encoder-grid.png", "val-000-decoder-grid.png"}
    else:
        assert "has no self-attention" in capsys.readouterr().out
    assert names == _indexed(expected)


def test_panels_all_adds_every_head(transformer_run, tmp_path):
    names = _names(plot(compose_plot(f"run={transformer_run}", "src=alpha", "panels=all", f"output={tmp_path}")))
    layers, heads = TINY["transformer"]
    assert {f"alpha-cross-layer{k}-head{j}.png" for k in range(1, layers + 1) for j in range(1, heads + 1)} <= names
    assert len(names) == 1 + layers * (heads + 1)


# --------------------------------------------------------------------------- what the figures show


def _first_pair(run_dir: Path):
    run = load_run(run_dir)
    cfg = OmegaConf.load(run_dir / "config.yaml")
    src = Path(cfg.data.val.src).read_text().splitlines()[0]
    tgt = Path(cfg.data.val.tgt).read_text().splitlines()[0]
    gold = Path(cfg.data.val.align).read_text().splitlines()[0]
    att = teacher_forced(run.model, run.vocab, [src], run.vocab.encode_tgt([tgt]))[0]
    return run, src, tgt, gold, att


@pytest.mark.parametrize("fixture", RUNS)
def test_tick_labels_are_the_pieces(fixture, request):
    run, src, tgt, _, att = _first_pair(request.getfixturevalue(fixture))
    src_pieces = [*run.vocab.src_pieces(src), "</s>"]
    tgt_pieces = [*run.vocab.tgt_pieces_from_ids(run.vocab.encode_tgt([tgt])[0]), "</s>"]
    assert att.src_pieces == src_pieces and att.tgt_pieces == tgt_pieces
    figures = sentence_figures(att, "m", "ctx")
    single = figures["cross"] if fixture == "rnn_run" else figures["cross-layer2-avg"]
    ax = single.axes[0]
    assert _ticks(ax, "x") == src_pieces and _ticks(ax, "y") == tgt_pieces
    assert ax.get_images()[0].get_array().shape == (len(tgt_pieces), len(src_pieces))
    assert "m · " in ax.get_title() and ("Bahdanau α" in ax.get_title() or "layer 2 · head average" in ax.get_title())
    assert len(single.axes) == 2  # the panel and its colour bar


def test_grid_has_every_layer_and_head_plus_the_average(transformer_run):
    _, _, _, _, att = _first_pair(transformer_run)
    grid = sentence_figures(att, "transformer")["cross-grid"]
    titles = [ax.get_title() for ax in grid.axes if ax.get_images() and ax.get_label() != "<colorbar>"]
    layers, heads = TINY["transformer"]
    assert titles == [
        f"layer {k} {h}" for k in range(1, layers + 1) for h in [*(f"head {j}" for j in range(1, heads + 1)), "avg"]
    ]


@pytest.mark.parametrize("fixture", RUNS)
def test_words_merge_pieces_and_outline_gold_links(fixture, request):
    run, _, _, gold, att = _first_pair(request.getfixturevalue(fixture))
    figures = sentence_figures(att, "m", words=True, gold=gold)
    single = figures["cross"] if fixture == "rnn_run" else figures["cross-layer1-avg"]
    ax = single.axes[0]
    assert _ticks(ax, "x") == [*word_strings(att.src_pieces), "</s>"]
    assert _ticks(ax, "y") == [*word_strings(att.tgt_pieces), "</s>"]
    assert "summed over a source word's pieces" in ax.get_xlabel() and "gold links" in ax.get_xlabel()
    outlined = {tuple(int(v) for v in xy) for xy in ax.collections[0].get_offsets()}
    assert outlined == {tuple(int(v) for v in link.split("-")) for link in gold.split()}
    rows = ax.get_images()[0].get_array()
    np.testing.assert_allclose(np.asarray(rows).sum(axis=1), 1.0, atol=1e-5)  # word rows stay distributions


def test_decoder_self_attention_shows_the_causal_triangle(transformer_run):
    _, _, _, _, att = _first_pair(transformer_run)
    figures = sentence_figures(att, "transformer", self_attention=True)
    assert {"encoder-grid", "decoder-grid"} <= set(figures)
    panels = [ax for ax in figures["decoder-grid"].axes if ax.get_images() and ax.get_label() != "<colorbar>"]
    for ax in panels:
        weights = np.asarray(ax.get_images()[0].get_array())  # (T, T)
        assert np.allclose(np.triu(weights, k=1), 0.0) and weights.diagonal().min() > 0
    assert _ticks(panels[-1], "x") == ["<s>", *att.tgt_pieces[:-1]]
    assert _ticks(panels[0], "y") == att.tgt_pieces


def test_reused_figures_match_fresh_ones(transformer_run, tmp_path):
    """Grids redrawn from one sentence to the next, and single panels redrawn within a sentence, give the
    same pixels as new figures, also when the next sentence has other lengths (another layout)."""
    from matplotlib.image import imread

    from nmt.figures import save_figure
    from nmt.plot import iter_figures

    run = load_run(transformer_run)
    cfg = OmegaConf.load(transformer_run / "config.yaml")
    sources = Path(cfg.data.val.src).read_text().splitlines()[:8]
    targets = run.vocab.encode_tgt(Path(cfg.data.val.tgt).read_text().splitlines()[:8])
    atts = teacher_forced(run.model, run.vocab, sources, targets)
    other = next(a for a in atts if a.cross.shape != atts[0].cross.shape)
    reuse: dict = {}
    for k, att in enumerate([atts[0], other]):
        fresh = sentence_figures(att, "transformer", f"ctx {k}", self_attention=True)
        for name, fig in iter_figures(att, "transformer", f"ctx {k}", self_attention=True, reuse=reuse):
            (reused,) = save_figure(fig, tmp_path / f"reused-{k}-{name}", dpi=40)
            (drawn,) = save_figure(fresh[name], tmp_path / f"fresh-{k}-{name}", dpi=40)
            np.testing.assert_array_equal(imread(reused), imread(drawn), err_msg=f"sentence {k}: {name}")
    assert set(reuse) == {"cross-grid", "encoder-grid", "decoder-grid"}


def test_titles_and_word_notes_fit_the_model(rnn_run, transformer_run):
    _, _, _, _, rnn = _first_pair(rnn_run)
    title = sentence_figures(rnn, "rnn", "ctx")["cross"].axes[0].get_title()
    assert title.startswith("rnn · Bahdanau α") and "layer" not in title and "head" not in title
    _, _, _, _, att = _first_pair(transformer_run)
    figures = sentence_figures(att, "transformer", words=True, self_attention=True)
    notes = {kind: figures[f"{kind}-grid"].get_supxlabel() for kind in ("cross", "encoder", "decoder")}
    assert "source word" in notes["cross"] and "target word" in notes["cross"]
    assert "target" not in notes["encoder"] and "source" not in notes["decoder"]


# --------------------------------------------------------------------------- the alignment table


@pytest.mark.parametrize("fixture", RUNS)
def test_analysis_has_one_row_per_layer_and_head(fixture, request, tmp_path, capsys):
    run_dir = request.getfixturevalue(fixture)
    written = plot(compose_plot(f"run={run_dir}", "split=test", "analysis=true", f"output={tmp_path}"))
    assert _names(written) == {"alignment.md", "alignment.json"}
    table = json.loads((tmp_path / "alignment.json").read_text())
    model = fixture.removesuffix("_run")
    layers, heads = TINY[model]
    expected = {(k, j) for k in range(1, layers + 1) for j in range(1, heads + 1)}
    if heads > 1:
        expected |= {(k, "avg") for k in range(1, layers + 1)}
    assert {(r["layer"], r["head"]) for r in table["rows"]} == expected and len(table["rows"]) == len(expected)
    assert all(0.0 <= r["aer"] <= 1.0 and r["entropy"] >= 0.0 for r in table["rows"])
    assert table["best"] == table["best_per_model"][model] == min(table["rows"], key=lambda r: (r["aer"], r["entropy"]))
    assert table["runs"][model]["sentences"] == 24
    printed = capsys.readouterr().out
    assert "| model | layer | head |" in printed and printed.count("**best**") == 1
    assert (tmp_path / "alignment.md").read_text().count("**best**") == 1


def test_analysis_of_several_runs(transformer_run, rnn_run, tmp_path):
    cfg = compose_plot(f"runs=[{transformer_run},{rnn_run}]", "split=test", "analysis=true", f"output={tmp_path}")
    plot(cfg)
    table = json.loads((tmp_path / "alignment.json").read_text())
    assert len(table["rows"]) == 2 * (4 + 1) + 1 and set(table["best_per_model"]) == {"transformer", "rnn"}
    assert table["best"] == min(table["rows"], key=lambda r: (r["aer"], r["entropy"]))
    text = (tmp_path / "alignment.md").read_text()
    assert text.count("**best**") == 1 and text.count("lowest of ") == 1


def _without_gold(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("attention", "plots"))
    cfg = OmegaConf.load(copy / "config.yaml")
    cfg.data.test.align = None
    cfg.data.corpus.test.align = None  # the saved config is resolved: the corpus has its own copy
    OmegaConf.save(cfg, copy / "config.yaml")
    return copy


def test_no_gold_alignments_is_one_clear_error_and_align_fixes_it(rnn_run, tmp_path):
    run_dir = _without_gold(rnn_run, tmp_path)
    with pytest.raises(CorpusError, match=r"has no gold alignments; AER needs a Pharaoh file: pass align=<file>"):
        plot(compose_plot(f"run={run_dir}", "split=test", "analysis=true", f"output={tmp_path}"))
    gold = OmegaConf.load(rnn_run / "config.yaml").data.test.align
    plot(compose_plot(f"run={run_dir}", "split=test", "analysis=true", f"align={gold}", f"output={tmp_path}"))
    assert len(json.loads((tmp_path / "alignment.json").read_text())["rows"]) == 1
    short = tmp_path / "short.align"
    short.write_text("0-0\n")
    with pytest.raises(CorpusError, match="short.align: 1 lines but split 'test' has 24 pairs"):
        plot(compose_plot(f"run={run_dir}", "split=test", "analysis=true", f"align={short}", f"output={tmp_path}"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["src=alpha"], "pass one run folder as run=<dir>"),
        (["run=x", "runs=[y]", "src=alpha"], "not both or neither"),
        (["run=x"], 'pass src="a sentence"'),
        (["run=x", "src=alpha", "split=test"], "not both or neither"),
        (["run=x", "tgt=ALPHA", "split=test"], "pass src too"),
        (["run=x", "analysis=true"], "analysis=true needs a split"),
        (["run=x", "split=test", "mode=sample"], "use mode=force"),
        (["run=x", "src=alpha", "formats=[jpg]"], "choose among"),
        (["run=x", "src=alpha", "panels=heads"], r"panels='heads': use one of \['none', 'avg', 'all'\]"),
        (["run=x", "src=alpha", "max_tokens=0"], r"^max_tokens=0: give the batch budget"),
    ],
)
def test_bad_options_are_refused_before_loading(overrides, message):
    with pytest.raises(ValueError, match=message):
        plot(compose_plot(*overrides))


def test_unknown_split_is_named(rnn_run, tmp_path):
    with pytest.raises(ValueError, match=r"split='dev' is not in the run's data; choose one of"):
        plot(compose_plot(f"run={rnn_run}", "split=dev", f"output={tmp_path}"))


# --------------------------------------------------------------------------- the real command


def test_command_line_writes_only_the_heatmaps(rnn_run, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "nmt.plot", f"run={rnn_run}", "src=alpha beta", "output=out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "alpha-beta-cross.png").stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no .hydra, outputs/ or log files
