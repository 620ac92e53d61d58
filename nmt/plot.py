"""``python -m nmt.plot``: attention heatmaps and the alignment table of trained run folders.

Usage::

    python -m nmt.plot run=<run dir> src="A man rides a bike."             # the model's own translation
    python -m nmt.plot run=<run dir> src="A man rides a bike." 'tgt="Ein Mann fährt Rad."'   # force a target
    python -m nmt.plot run=<run dir> split=test n=20                      # teacher-forced on the references
    python -m nmt.plot run=<run dir> split=test n=20 mode=decode          # the model's own translations
    python -m nmt.plot run=<run dir> split=test analysis=true             # AER and entropy per layer and head
    python -m nmt.plot runs=[dirA,dirB] split=test analysis=true output=plots

Options (``words=true``, ``self_attention=true``, ``panels=all``, ``formats=[png,svg,pdf]``, ``output=``,
``decode=greedy``, ``align=``…) are listed with their defaults in conf/plot.yaml. Files go to ``output=``,
by default ``nmt-output/<run's parent>/<run>/plots/`` here (never into the run folder unless
``save=true``, which writes ``<run>/plots/``).

Files, with ``<stem>`` = ``<split>-<index>`` (+ ``-decoded`` in ``mode=decode``) or a slug of the text
(+ ``-forced`` with ``tgt=``):

* ``<stem>-cross``: a single-map model's cross-attention (the RNN's Bahdanau α), one panel;
* ``<stem>-cross-grid``: the Transformer's cross-attention, every layer x head plus the head average;
* ``<stem>-cross-layer<l>-avg`` (and ``-head<k>`` with ``panels=all``): single Transformer panels, by
  default for ``src=`` sentences only (a split's grids show the same panels; ``panels=avg`` adds them);
* ``<stem>-encoder-grid``, ``<stem>-decoder-grid``: self-attention, with ``self_attention=true``;
* ``index.html`` and ``thumbs/<stem>-<figure>.png`` (with ``split=``): one page with a small thumbnail
  of every figure, each linked to its files;
* ``alignment.md``, ``alignment.json``: the table of ``analysis=true`` (which draws no heatmaps).

A split is drawn quickly: figures are laid out once from their labels (``nmt.heatmap_layout``, no layout
engine at each save) and one grid figure per kind is redrawn from sentence to sentence.

Decoded translations are re-run teacher-forced on their own tokens to read the attention: the model
computes the same weights as during search (incremental == full), and self-attention comes for free.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import hydra
import numpy as np
from hydra.utils import instantiate
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from nmt.align import AlignedSentence, analyse_attention, parse_pharaoh, table_json, table_markdown
from nmt.attention_maps import SentenceAttention, teacher_forced, to_words, translate_ids
from nmt.checkpoint import LoadedRun, load_run
from nmt.cli import CONF_DIR, prepare_argv, read_sentences
from nmt.corpora.base import CorpusError
from nmt.decoding import check_max_tokens
from nmt.errors import ConfigError, one_line_errors
from nmt.figures import FORMATS, attention_grid, attention_heatmap, save_figure
from nmt.gallery import Shown, save_thumbnail, write_index
from nmt.outputs import output_dir
from nmt.search import DecodeSettings

WORD_NOTES = {  # how to_words merged each kind: summed over a column word's pieces, averaged over a row word's
    "cross": "words: attention summed over a source word's pieces,\naveraged over a target word's pieces",
    "encoder": "words: attention summed over an attended source word's pieces,\naveraged over a source word's pieces",
    "decoder": "words: attention summed over an earlier target word's pieces,\naveraged over a target word's pieces",
}
AXIS_NAMES = {  # (x, y) of each kind's grid: the attended positions along x, the attending ones along y
    "cross": ("source", "target"),
    "encoder": ("source (attended)", "source"),
    "decoder": ("decoder input (attended)", "target"),
}
PANELS = ("none", "avg", "all")  # single cross-attention panels besides the grid
KIND_TITLES = {"cross": "cross-attention", "encoder": "encoder self-attention", "decoder": "decoder self-attention"}


# --------------------------------------------------------------------------- figures of one sentence


def _views(att: SentenceAttention, self_attention: bool) -> list[tuple[str, np.ndarray, list[str], list[str]]]:
    """(kind, weights (L, h, R, C), column labels, row labels) for each attention to draw."""
    views = [("cross", att.cross, att.src_pieces, att.tgt_pieces)]
    if self_attention and att.encoder is not None:
        views.append(("encoder", att.encoder, att.src_pieces, att.src_pieces))
    if self_attention and att.decoder is not None:
        views.append(("decoder", att.decoder, att.dec_inputs, att.tgt_pieces))
    return views


def sentence_figures(
    att: SentenceAttention,
    model: str,
    context: str = "",
    words: bool = False,
    panels: str = "avg",
    self_attention: bool = False,
    gold: str | None = None,
) -> dict[str, Figure]:
    """The heatmaps of one sentence, by file-name suffix (see the module docstring).

    A model whose ``attention_layout`` is a single map (the RNN's Bahdanau α) gets one panel.
    A Transformer gets a grid per attention kind and, for cross-attention, a single panel per layer's
    head average (``panels="avg"``; and per head with ``panels="all"``; none with ``panels="none"``).
    ``gold`` (a Pharaoh line on the same target text) is outlined on word-level single panels.
    """
    return dict(iter_figures(att, model, context, words, panels, self_attention, gold))


def iter_figures(
    att: SentenceAttention,
    model: str,
    context: str = "",
    words: bool = False,
    panels: str = "avg",
    self_attention: bool = False,
    gold: str | None = None,
    reuse: dict[str, Figure] | None = None,
) -> Iterator[tuple[str, Figure]]:
    """``sentence_figures`` one figure at a time.

    ``reuse`` (a dict kept from sentence to sentence, empty at first) makes the figures cheaper: a grid is
    the previous sentence's grid of the same kind redrawn in place, and the single panels of a sentence
    are one figure redrawn in place (same labels, same layout). Save each figure before asking for the
    next.
    """
    if panels not in PANELS:
        raise ConfigError(f"panels={panels!r}: use one of {list(PANELS)}, e.g. panels=avg (a panel per layer average)")
    suffix = f"\n{context}" if context else ""
    for kind, weights, cols, rows in _views(att, self_attention):
        if words:
            weights, cols, rows = to_words(weights, cols, rows)
        note = WORD_NOTES[kind] if words else None
        links = sorted(parse_pharaoh(gold)[1]) if gold and words and kind == "cross" else []
        if att.layout.single_map:
            title = f"{model} · {att.cross_name}{suffix}"
            yield kind, attention_heatmap(weights[0, 0], cols, rows, title=title, note=note, links=links)
            continue
        title = f"{model} · {att.cross_name if kind == 'cross' else KIND_TITLES[kind]}{suffix}"
        earlier = None if reuse is None else reuse.get(f"{kind}-grid")
        grid = attention_grid(weights, cols, rows, title=title, note=note, axis_names=AXIS_NAMES[kind], redraw=earlier)
        if reuse is not None:
            reuse[f"{kind}-grid"] = grid
        yield f"{kind}-grid", grid
        if kind == "cross":
            yield from _single_figures(weights, cols, rows, panels, (model, suffix, note, links), reuse is not None)


def _single_figures(
    weights: np.ndarray,
    cols: list[str],
    rows: list[str],
    panels: str,
    text: tuple[str, str, str | None, list[tuple[int, int]]],
    reuse: bool,
) -> Iterator[tuple[str, Figure]]:
    """The single cross-attention panels of one sentence; text = (model, title suffix, note, gold links).

    Shapes: weights (L, h, T, S).
    """
    model, suffix, note, links = text
    single: Figure | None = None
    for name, (panel, what) in _single_panels(weights, panels).items():
        title = f"{model} · {what}{suffix}"
        if single is None or not reuse:
            single = attention_heatmap(panel, cols, rows, title=title, note=note, links=links)
        else:  # the same labels, so the same layout: only the colours and the title change
            single.axes[0].get_images()[0].set_data(panel)
            single.axes[0].title.set_text(title)
        yield name, single


def _single_panels(weights: np.ndarray, panels: str) -> dict[str, tuple[np.ndarray, str]]:
    """File suffix -> (one panel, its title): each layer's head average, and each head with ``panels="all"``.

    Shapes: weights (L, h, T, S) -> panels (T, S).
    """
    out: dict[str, tuple[np.ndarray, str]] = {}
    if panels == "none":
        return out
    for layer, heads in enumerate(weights, start=1):  # heads (h, T, S)
        if panels == "all":
            for k, panel in enumerate(heads, start=1):
                out[f"cross-layer{layer}-head{k}"] = (panel, f"layer {layer} · head {k}")
        out[f"cross-layer{layer}-avg"] = (heads.mean(axis=0), f"layer {layer} · head average")
    return out


# --------------------------------------------------------------------------- the command


def _as_list(value: object) -> list[str] | None:
    if value is None:
        return None
    return [str(v) for v in value] if isinstance(value, Sequence) and not isinstance(value, str) else [str(value)]


def _check(cfg: DictConfig) -> list[Path]:
    """The run folders, after checking that the options make sense together."""
    runs = _as_list(cfg.runs) or []
    if (cfg.run is None) == (not runs):
        raise ConfigError("pass one run folder as run=<dir> or several as runs=[dirA,dirB], not both or neither")
    if cfg.analysis and cfg.split is None:
        raise ConfigError("analysis=true needs a split with gold alignments, e.g. split=test")
    if not cfg.analysis and (cfg.src is None) == (cfg.split is None):
        raise ConfigError('pass src="a sentence" for one sentence or split=test n=20 for a split, not both or neither')
    if cfg.tgt is not None and cfg.src is None:
        raise ConfigError('tgt="…" forces a target for src="…"; pass src too')
    if cfg.mode not in ("force", "decode"):
        raise ConfigError(f"mode={cfg.mode!r}: use mode=force (the references) or mode=decode (own translations)")
    if cfg.panels is not None and cfg.panels not in PANELS:
        raise ConfigError(f"panels={cfg.panels!r}: use one of {list(PANELS)} (unset: avg for src=, none for split=)")
    bad = [f for f in cfg.formats if f not in FORMATS]
    if bad or not cfg.formats:
        raise ConfigError(f"formats={list(cfg.formats)}: choose among {list(FORMATS)}, e.g. formats=[png,svg]")
    check_max_tokens(cfg.max_tokens)
    return [Path(r).expanduser() for r in ([cfg.run] if cfg.run is not None else runs)]


def _labels(runs: list[LoadedRun]) -> list[str]:
    """The model name of each run, with the folder name added when two runs share a name."""
    names = [str(r.config.model.name) for r in runs]
    return [n if names.count(n) == 1 else f"{n} ({r.run_dir.name})" for n, r in zip(names, runs, strict=True)]


def _slug(text: str) -> str:
    return re.sub(r"[^\w]+", "-", text.lower()).strip("-")[:40] or "sentence"


def _split_data(cfg: DictConfig, run: LoadedRun) -> tuple[list[str], list[str], list[str] | None]:
    """Sources, references and gold Pharaoh lines (``align=`` file first, else the corpus's) of ``cfg.split``."""
    # the corpus alone (load_run checked the run's config): no DataModule, no import of nmt.train (seconds)
    corpus = instantiate(run.config.data.corpus, _partial_=True)()
    if cfg.split not in corpus.splits:
        raise ConfigError(f"split={cfg.split!r} is not in the run's data; choose one of {list(corpus.splits)}")
    split = corpus.splits[cfg.split]
    sources, references, gold = list(split.src), list(split.tgt), split.alignments
    if cfg.align is not None:
        path = Path(cfg.align).expanduser()
        gold = path.read_text(encoding="utf-8").splitlines()
        if len(gold) != len(sources):
            raise CorpusError(
                f"{path}: {len(gold)} lines but split {cfg.split!r} has {len(sources)} pairs; "
                "give one Pharaoh line per pair"
            )
    return sources, references, gold


Job = tuple[str, str, SentenceAttention, str | None]  # file stem, title context, attention, gold line or None


def _given_sentences(cfg: DictConfig, run: LoadedRun, settings: DecodeSettings) -> list[Job]:
    """The jobs of ``src=`` (and ``tgt=``): the model's translation, or the given target forced."""
    sources, forced = _as_list(cfg.src), _as_list(cfg.tgt)
    if forced is not None and len(forced) != len(sources):
        raise ConfigError(f"got {len(sources)} src and {len(forced)} tgt sentences; pass one tgt per src")
    if forced:
        targets, context = run.vocab.encode_tgt(forced), "forced on the given target"
    else:
        targets = translate_ids(run.model, run.vocab, sources, settings)
        context = f"own translation ({settings.strategy})"
    stems = [f"{_slug(s)}-forced" if forced else _slug(s) for s in sources]
    stems = [s if stems.count(s) == 1 else f"{s}-{k}" for k, s in enumerate(stems)]
    # self-attention is always kept: it tells the RNN from a one-layer, one-head Transformer
    atts = teacher_forced(run.model, run.vocab, sources, targets, int(cfg.max_tokens))
    return [(stem, context, att, None) for stem, att in zip(stems, atts, strict=True)]


def _split_sentences(cfg: DictConfig, run: LoadedRun, settings: DecodeSettings) -> list[Job]:
    """The jobs of ``split= n=``: the first n pairs, forced on the references or decoded."""
    sources, references, gold = _split_data(cfg, run)
    count = len(sources) if cfg.n is None else min(int(cfg.n), len(sources))
    sources, references, gold = sources[:count], references[:count], (gold or [None] * count)[:count]
    if cfg.mode == "decode":
        targets, gold = translate_ids(run.model, run.vocab, sources, settings), [None] * count
        context, tag = f"own translation ({settings.strategy})", "-decoded"
    else:
        targets, context, tag = run.vocab.encode_tgt(references), "teacher-forced on the reference", ""
    atts = teacher_forced(run.model, run.vocab, sources, targets, int(cfg.max_tokens))
    return [
        (f"{cfg.split}-{k:03d}{tag}", f"{cfg.split} #{k} · {context}", att, g)
        for k, (att, g) in enumerate(zip(atts, gold, strict=True))
    ]


def draw(cfg: DictConfig, run: LoadedRun, label: str, output: Path) -> list[Path]:
    """Draw and save the heatmaps of one run (and, for a split, their index page); returns the files written."""
    settings = DecodeSettings(**OmegaConf.to_container(cfg.get("decode") or run.config.decode, resolve=True))
    jobs = _given_sentences(cfg, run, settings) if cfg.src is not None else _split_sentences(cfg, run, settings)
    if cfg.self_attention and not jobs[0][2].layout.self_attention:
        print(f"note: {label} has no self-attention; self_attention=true draws its {jobs[0][2].cross_name} only")
    panels = cfg.panels or ("avg" if cfg.src is not None else "none")  # a split's grids show every panel already
    indexed = cfg.split is not None
    written: list[Path] = []
    sections: list[tuple[str, list[Shown]]] = []
    reuse: dict[str, Figure] = {}
    bar = tqdm(jobs, desc=f"heatmaps {label}", unit="sentence", disable=True if len(jobs) < 5 else None)  # None: tty
    for stem, context, att, gold in bar:
        shown = []
        for name, fig in iter_figures(att, label, context, cfg.words, panels, cfg.self_attention, gold, reuse):
            files = save_figure(fig, output / f"{stem}-{name}", tuple(cfg.formats), dpi=cfg.dpi)
            written += files
            if indexed:
                png = next((f for f in files if f.suffix == ".png"), None)
                shown.append(Shown(name, files, save_thumbnail(fig, output / "thumbs" / f"{stem}-{name}.png", png)))
        sections.append((context, shown))
    if indexed:
        written += [s.thumbnail for _, shown in sections for s in shown]
        written.append(write_index(output / "index.html", f"{label} · {cfg.split} split", sections))
    return written


def analyse(cfg: DictConfig, runs: list[LoadedRun], labels: list[str], output: Path) -> list[Path]:
    """Write (and print) the AER / entropy table of every run's layers and heads on ``cfg.split``."""
    rows, sizes = [], {}
    for run, label in zip(runs, labels, strict=True):
        sources, references, gold = _split_data(cfg, run)
        if gold is None:
            raise CorpusError(
                f"split {cfg.split!r} of {run.run_dir / 'config.yaml'} has no gold alignments; AER needs a Pharaoh "
                f"file: pass align=<file> here, or set data.{cfg.split}.align=<file> when training on custom data"
            )
        targets = run.vocab.encode_tgt(references)
        atts = teacher_forced(
            run.model,
            run.vocab,
            sources,
            targets,
            int(cfg.max_tokens),
            self_attention=False,
            progress=len(sources) > 200,
        )
        sentences = [AlignedSentence(a.cross, a.src_pieces, a.tgt_pieces, g) for a, g in zip(atts, gold, strict=True)]
        rows += analyse_attention(sentences, model=label, method=cfg.method)
        sizes[label] = {
            "run": str(run.run_dir.resolve()),
            "checkpoint": str(run.checkpoint.resolve()),
            "sentences": len(sentences),
        }
    table = table_markdown(rows)
    header = (
        f"# Attention vs gold alignments: {cfg.split} split\n\n"
        f"Teacher-forced cross-attention over the references, pieces merged into words (summed over source "
        f"pieces, averaged over target pieces), EOS dropped; links by `{cfg.method}`; AER as in Och & Ney "
        "(2003), lower is better; entropy of each target word's attention in nats.\n\n"
    )
    output.mkdir(parents=True, exist_ok=True)
    md, js = output / "alignment.md", output / "alignment.json"
    md.write_text(header + table, encoding="utf-8")
    data = {"split": cfg.split, "method": cfg.method, "runs": sizes, **table_json(rows)}
    js.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table, end="")
    return [md, js]


def _plots(cfg: DictConfig, run: LoadedRun) -> Path:
    """One run's default plot folder: ``<out>/plots`` (``nmt.outputs``: the run folder only with ``save=true``)."""
    return output_dir(run.run_dir, bool(cfg.get("save"))) / "plots"


def plot(cfg: DictConfig) -> list[Path]:
    """What ``python -m nmt.plot`` does, callable from tests and notebooks; returns the files written."""
    run_dirs = _check(cfg)
    runs = [load_run(d, cfg.checkpoint, cfg.device) for d in run_dirs]
    labels = _labels(runs)
    several = len(runs) > 1
    root = Path(cfg.output).expanduser() if cfg.output is not None else None
    if cfg.analysis:
        written = analyse(cfg, runs, labels, root or (Path("plots") if several else _plots(cfg, runs[0])))
    else:
        written = []
        for run, label in zip(runs, labels, strict=True):
            out = _plots(cfg, run) if root is None else (root / _slug(label) if several else root)
            written += draw(cfg, run, label, out)
    folders = sorted({str(p.parent) for p in written})
    print(f"wrote {len(written)} file(s) to {', '.join(folders)}")
    return written


@hydra.main(config_path=str(CONF_DIR), config_name="plot", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors("nmt.plot"):
        for key in ("src", "tgt"):
            if cfg.get(f"{key}_file") is not None:
                if cfg[key] is not None:
                    raise ConfigError(f"pass {key}= or {key}_file=, not both")
                cfg[key] = read_sentences(str(cfg[f"{key}_file"]), f"{key}_file")
        plot(cfg)


def cli() -> None:
    """The ``nmt-plot`` console script (and ``python -m nmt.plot``)."""
    prepare_argv("nmt.plot", "plot", text_keys=("src", "tgt", "src_file", "tgt_file", "output"))
    main()


if __name__ == "__main__":
    cli()
