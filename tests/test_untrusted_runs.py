"""Run folders are untrusted input: foreign ``_target_``s and bad checkpoints are refused in one line."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir

from nmt.checkpoint import CheckpointError, load_run
from nmt.models.registry import model_targets
from nmt.safe_load import ALLOWED_TARGETS, refuse_unknown_targets

pytestmark = pytest.mark.usefixtures("one_thread")
CONF = Path(__file__).resolve().parents[1] / "conf"


def _payload(victim: Path) -> dict:
    """What Hydra's own block-list lets through: ``Path(victim).write_text("pwned")``."""
    return {
        "_target_": "pathlib.Path.write_text",
        "self": {"_target_": "pathlib.Path", "_args_": [str(victim)]},
        "data": "pwned",
    }


def _in_net(cfg: dict, evil: dict) -> str:
    cfg["model"]["net"]["init"] = evil
    return "model.net.init._target_"


def _in_corpus(cfg: dict, evil: dict) -> str:
    cfg["data"]["corpus"]["test"]["reader"] = evil
    return "data.corpus.test.reader._target_"


def _in_list(cfg: dict, evil: dict) -> str:
    cfg["model"]["net"]["layers"] = [1, {"deep": evil}]
    return "model.net.layers[1].deep._target_"


PLACES: dict[str, Callable[[dict, dict], str]] = {"net": _in_net, "corpus": _in_corpus, "list": _in_list}


def tampered(run: Path, tmp_path: Path, place: str) -> tuple[Path, Path, str]:
    """A copy of ``run`` whose config.yaml hides the payload at ``place``; (folder, victim file, key)."""
    folder = Path(shutil.copytree(run, tmp_path / f"tampered-{place}"))
    victim = tmp_path / f"pwned-{place}.txt"
    cfg = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    key = PLACES[place](cfg, _payload(victim))
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return folder, victim, key


def _hydra_main(module, argv: list[str], capsys) -> tuple[int, str]:
    """Run a Hydra command's ``main`` in this process on its composed config; (exit status, stderr)."""
    name = module.__name__.removeprefix("nmt.")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=name, overrides=argv)
    with pytest.raises(SystemExit) as exit_:
        module.main(cfg)  # Hydra passes a given config straight to the task function
    return int(exit_.value.code), capsys.readouterr().err


def _one_line(status: int, err: str, command: str) -> str:
    assert status == 2 and err.startswith(f"{command}: error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("place", sorted(PLACES))
def test_foreign_targets_are_refused_by_every_command(transformer_run, tmp_path, place, capsys):
    import nmt.compare
    import nmt.evaluate
    import nmt.plot
    import nmt.translate

    folder, victim, key = tampered(transformer_run, tmp_path, place)
    with pytest.raises(CheckpointError, match=rf"config\.yaml: {re.escape(key)} names 'pathlib\.Path") as err:
        nmt.load(folder)
    assert "\n" not in str(err.value)
    (tmp_path / "in.txt").write_text("alpha beta\n", encoding="utf-8")
    for module, argv, command in (
        (nmt.translate, [f"run={folder}", f"input={tmp_path / 'in.txt'}", f"output={tmp_path / 'o'}"], "nmt.translate"),
        (nmt.evaluate, [f"run={folder}", f"output={tmp_path / 'e.json'}"], "nmt.evaluate"),
        (nmt.plot, [f"run={folder}", "src=alpha"], "nmt.plot"),
        (nmt.compare, [f"runs=[{transformer_run},{folder}]", f"out={tmp_path / 'report'}"], "nmt.compare"),
    ):
        assert key in _one_line(*_hydra_main(module, argv, capsys), command)
    assert not victim.exists() and not (tmp_path / "report").exists() and not (tmp_path / "o").exists()


@pytest.mark.slow
def test_the_command_refuses_the_tampered_folder_of_the_issue(transformer_run, tmp_path):
    """As a new user would try it: nmt.translate on a folder with the payload under model.net."""
    folder, victim, key = tampered(transformer_run, tmp_path, "net")
    cmd = [sys.executable, "-m", "nmt.translate", f"run={folder}"]
    done = subprocess.run(cmd, input="alpha beta\n", capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 2 and done.stdout == "" and not victim.exists()
    assert done.stderr.startswith("nmt.translate: error: ") and done.stderr.count("\n") == 1 and key in done.stderr


def test_the_allow_list_is_exact_and_covers_the_project_configs():
    for path in [*CONF.glob("model/*.yaml"), *CONF.glob("data/*.yaml")]:
        refuse_unknown_targets(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
    assert "nmt.models.rnn.Bahdanau" in model_targets() and "nmt.corpora.toy.load_toy" in ALLOWED_TARGETS
    for bad in ("nmt.models.rnn.torch.save", "os.system", "builtins.exec"):  # prefixes of allowed names too
        with pytest.raises(CheckpointError, match="does not instantiate"):
            refuse_unknown_targets({"a": [{"b": {"_target_": bad}}]}, "c.yaml")
    with pytest.raises(CheckpointError, match=r"a\.b\._target_ has _partial_ without a _target_"):
        refuse_unknown_targets({"a": {"b": {"_partial_": True}}}, "c.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model: [unclosed\n", "not a readable run config (ParserError"),
        ("a: ${missing.key}\n", "not a readable run config (InterpolationKeyError"),
        ("- just\n- a list\n", "not a mapping of settings"),
    ],
)
def test_unreadable_configs_are_one_line(tmp_path, text, message):
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(CheckpointError, match=re.escape(message)) as err:
        load_run(tmp_path)
    assert "\n" not in str(err.value)


def test_interpolations_cannot_build_a_target_later(transformer_run, tmp_path):
    folder = Path(shutil.copytree(transformer_run, tmp_path / "run"))
    victim = tmp_path / "pwned.txt"
    text = (folder / "config.yaml").read_text(encoding="utf-8")
    hidden = yaml.safe_dump(_payload(victim), default_flow_style=True, width=10_000).strip().replace('"', "'")
    (folder / "config.yaml").write_text(text + f'sneaky: "${{oc.create:{hidden}}}"\n', encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"sneaky\._target_ names 'pathlib\.Path\.write_text'"):
        load_run(folder)
    assert not victim.exists()


# ---- checkpoints ------------------------------------------------------------------------------------


@pytest.fixture
def run_copy(transformer_run, tmp_path) -> Path:
    return Path(shutil.copytree(transformer_run, tmp_path / "run"))


def _best(run: Path) -> Path:
    return sorted((run / "checkpoints").glob("best-*.ckpt"))[-1]


def _refused(run: Path) -> str:
    with pytest.raises(CheckpointError) as err:
        load_run(run)
    message = str(err.value)
    assert "\n" not in message and str(_best(run)) in message
    return message


def test_truncated_checkpoint(run_copy):
    best = _best(run_copy)
    raw = best.read_bytes()
    for cut in (len(raw) // 2, 0):
        best.write_bytes(raw[:cut])
        assert "truncated or damaged" in _refused(run_copy)


def test_checkpoint_holding_an_object_is_refused_not_unpickled(run_copy):
    best = _best(run_copy)
    ckpt = torch.load(best, weights_only=True)
    ckpt["hyper_parameters"] = {"where": Path("/somewhere")}
    torch.save(ckpt, best)
    message = _refused(run_copy)
    assert "refused: it holds a Python object (pathlib." in message and "weights_only=True" in message


def test_checkpoint_of_another_model(run_copy, rnn_run):
    shutil.copy(_best(rnn_run), _best(run_copy))
    message = _refused(run_copy)
    assert "weights of another model" in message and "missing" in message and "unexpected" in message


def test_checkpoint_of_another_vocabulary(run_copy):
    best = _best(run_copy)
    ckpt = torch.load(best, weights_only=True)
    state = ckpt["state_dict"]
    rows = {k: v.shape[0] for k, v in state.items() if k.endswith("embed.weight")}
    assert rows, "the Transformer has embeddings"
    for name in rows:
        state[name] = torch.cat([state[name], state[name][:7]])  # 7 more pieces
    torch.save(ckpt, best)
    size = next(iter(rows.values()))
    assert f"another vocabulary: trained with vocabulary {size + 7} pieces (run's vocab/: {size})" in _refused(run_copy)
