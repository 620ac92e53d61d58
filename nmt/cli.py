"""The command line of the Hydra commands, made forgiving before Hydra parses it.

``prepare_argv`` is called by each Hydra command (``python -m nmt.<command>``) before its
``@hydra.main``; it rewrites ``sys.argv`` in place:

* free text (``src=``, ``tgt=``: sentences) is put in Hydra's quoted form, so that a sentence
  typed in a shell works as it is, commas, quotes, umlauts and brackets included;
* ``--help``/``-h`` prints that command's own keys, one line each, from its entry config;
* an unknown key gets one line with the closest valid one (``did you mean trainer.max_epochs?``)
  instead of Hydra's advice to add it with ``+``; a value Hydra cannot parse gets one line too;
* a missing ``run=`` (or a run folder that does not exist) gets one line;
* ``plugins=<module>[,<module>…]`` is taken off the line and those modules are imported first, so
  the models they register (``nmt.models.registry``) can be trained (``model=<name>``) and their run
  folders opened; Hydra never sees the key, and no run folder can name a plugin by itself.
* bare arguments fill the command's list key (``nmt.compare runs/a runs/b`` ≡ ``runs=[runs/a,runs/b]``)
  and older ``--flag value`` options still work for one release, with a note (``legacy_flags``).

Errors are ``nmt.<command>: error: <message>`` on stderr with exit status 2, as ``nmt.errors``.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from nmt.config_files import CONF_DIR, help_text, required_keys
from nmt.errors import ConfigError

# Keys that name run folders, per command: missing or not a folder is refused in one line.
RUN_KEYS = ("run", "runs", "compare")


def fail(command: str, message: str) -> NoReturn:
    """Print ``<command>: error: <message>`` on stderr and exit with status 2."""
    print(f"{command}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def hydra_quote(text: str) -> str:
    """``text`` as one Hydra quoted string: ``'…'`` with quotes, trailing backslashes and ``${`` escaped."""
    text = re.sub(r"(\\+)(?='|$)", lambda m: m.group(1) * 2, text)
    return "'" + text.replace("'", "\\'").replace("${", "\\${") + "'"


def _needs_quotes(value: str) -> bool:
    """Whether Hydra would misread ``value`` as free text; kept as they are: values Hydra reads as
    that very string, ``null``, one quoted string (the older ``'src="…"'`` spelling) and a list
    (``src=[…]``, which stays a list)."""
    if value == "null":
        return False
    try:
        parsed = OverridesParser.create().parse_override(f"k={value}").value()
    except HydraException:
        return True
    quoted = len(value) >= 2 and value[0] in "'\"" and value[-1] == value[0]
    if quoted or value.startswith("[") and value.endswith("]"):
        return not isinstance(parsed, (str, list))
    return parsed != value


def quote_text_args(args: Sequence[str], text_keys: Sequence[str]) -> list[str]:
    """Rewrite ``key=sentence`` for the free-text ``text_keys`` into Hydra's quoted form.

    A value Hydra already reads as that text, one quoted string or a list (``src=[first,second]``)
    is kept: it is how Hydra wanted it before. A sentence wholly in brackets therefore needs quotes.
    """
    out = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+") in text_keys and _needs_quotes(value):
            arg = f"{key}={hydra_quote(value)}"
        out.append(arg)
    return out


def _flat_keys(cfg: DictConfig) -> list[str]:
    """Every dotted key of ``cfg``, inner nodes included."""
    container = OmegaConf.to_container(cfg, resolve=False)
    keys: list[str] = []

    def walk(node: object, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                keys.append(f"{prefix}{key}")
                walk(value, f"{prefix}{key}.")

    walk(container, "")
    return keys


def _is_group(key: str) -> bool:
    return "." not in key and (CONF_DIR / key).is_dir()


def take_plugins(args: Sequence[str]) -> list[str]:
    """Import the modules of every ``plugins=a,b`` (or ``plugins=[a,b]``) argument; the other arguments.

    Raises:
        ConfigError: a module cannot be imported.
    """
    rest: list[str] = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or key.lstrip("+") != "plugins":
            rest.append(arg)
            continue
        from nmt.models.registry import load_plugins  # torch only for commands that take plugins

        load_plugins([m.strip() for m in value.strip("[]").split(",") if m.strip()])
    return rest


def _choices(group: str) -> list[str]:
    """The choices of a config group: its files in ``conf/``, and for ``model`` the registered models' configs."""
    choices = {p.stem for p in (CONF_DIR / group).glob("*.yaml")}
    if group == "model":
        from nmt.models.registry import model_configs

        choices.update(model_configs())
    return sorted(choices)


def check_keys(command: str, config_name: str, overrides: Sequence[Override]) -> None:
    """Refuse, in one line with the closest valid key, a key the command's config does not have."""
    plain = [o for o in overrides if o.type == OverrideType.CHANGE and not o.key_or_group.startswith("hydra")]
    groups = [o for o in plain if _is_group(o.key_or_group) and o.package is None]
    for override in groups:
        group, value = override.key_or_group, override.value()
        choices = _choices(group)
        for choice in value if isinstance(value, list) else [value]:  # logger=[csv,tensorboard] picks several
            if isinstance(choice, str) and choice not in choices:
                close = difflib.get_close_matches(choice, choices, n=1, cutoff=0.5)
                hint = f"did you mean {group}={close[0]}? " if close else ""
                fail(command, f"{group}={choice}: no such choice; {hint}(choices: {', '.join(choices)})")
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name=config_name):
            cfg = compose(config_name=config_name, overrides=[o.input_line for o in groups])
    except Exception:  # a bad group choice: Hydra's own message says which choices exist
        return
    keys = _flat_keys(cfg)
    for override in plain:
        key = override.key_or_group
        if _is_group(key) or key in keys:
            continue
        close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else f"python -m {command} --help lists the keys"
        fail(command, f"{key}: no such key; {hint}")


def _check_run_folders(command: str, config_name: str, overrides: Sequence[Override]) -> None:
    """A run folder key that is required and missing, or names no folder, gets one line."""
    given = {o.key_or_group: o.value() for o in overrides if o.type == OverrideType.CHANGE}
    required = required_keys(config_name)
    for key in RUN_KEYS:
        value = given.get(key)
        if value is None and key in required:
            fail(command, f"{key}= is missing: give a run folder written by nmt.train ({key}=runs/…)")
        for folder in value if isinstance(value, list) else [value]:
            if isinstance(folder, str) and not Path(folder).expanduser().is_dir():
                fail(command, f"{key}={folder}: no such folder; give a run folder written by nmt.train")


# Hydra's own options (they pass through untouched); those in _HYDRA_VALUE take the next argument.
_HYDRA_FLAGS = frozenset(
    "--hydra-help --version --cfg -c --resolve --package -p --run -r --multirun -m --shell-completion -sc "
    "--config-path -cp --config-name -cn --config-dir -cd --info -i --experimental-rerun".split()
)
_HYDRA_VALUE = frozenset("--cfg -c --package -p --config-path -cp --config-name -cn --config-dir -cd".split())


def _value(text: str) -> str:
    """One value of an option or a list element: a number as it is, a plain path or word as it is,
    anything else (spaces, commas, brackets, quotes) in Hydra's quotes."""
    try:
        parsed = OverridesParser.create().parse_override(f"k={text}").value()
    except HydraException:
        return hydra_quote(text)
    if isinstance(parsed, int | float) and not isinstance(parsed, bool):
        return text
    plain = isinstance(parsed, str) and parsed == text and re.fullmatch(r"[\w./:@+~-]+", text)
    return text if plain else hydra_quote(text)


def legacy_flags(command: str, args: Sequence[str], flags: Mapping[str, tuple[str, str]]) -> list[str]:
    """Rewrite the older ``--flag value`` options of a command to ``key=value``, with one note on stderr.

    Args:
        command: the name in messages.
        args: the command line, program name excluded.
        flags: ``--flag`` -> (key, arity): ``"true"``/``"false"`` (a switch setting that value),
            ``"1"`` (one value) or ``"+"`` (the values up to the next ``--`` option or ``key=value``).
    """
    out: list[str] = []
    used: list[str] = []
    i = 0
    while i < len(args):
        flag, eq, inline = args[i].partition("=")
        if flag not in flags:
            out.append(args[i])
            i += 1
            continue
        key, arity = flags[flag]
        i += 1
        if arity in ("true", "false"):
            out.append(f"{key}={arity}")
        elif arity == "1":
            value = inline if eq else (args[i] if i < len(args) else "")
            i += 0 if eq else 1
            out.append(f"{key}={_value(value)}")
        else:
            values = [inline] if eq else []
            while not eq and i < len(args) and not args[i].startswith("--") and "=" not in args[i]:
                values.append(args[i])
                i += 1
            out.append(f"{key}=[{','.join(_value(v) for v in values)}]")
        used.append(f"{flag} -> {out[-1]}")
    if used:
        note = "; ".join(used)
        print(f"{command}: note: --options are deprecated and go in the next release: {note}", file=sys.stderr)
    return out


def positional_list(args: Sequence[str], key: str) -> list[str]:
    """Gather the bare arguments (no ``=``, no leading ``-``) into one ``key=[…]`` override, in front."""
    bare, rest = [], []
    for i, arg in enumerate(args):
        after_option = i > 0 and args[i - 1] in _HYDRA_VALUE
        (bare if "=" not in arg and not arg.startswith("-") and not after_option else rest).append(arg)
    return ([f"{key}=[{','.join(_value(a) for a in bare)}]"] if bare else []) + rest


def _unknown_option(command: str, args: Sequence[str], flags: Mapping[str, tuple[str, str]]) -> None:
    """Refuse an option that is neither Hydra's nor an older flag, naming the closest ``key=value``."""
    for arg in args:
        flag = arg.partition("=")[0]
        if flag.startswith("-") and flag not in _HYDRA_FLAGS:
            close = difflib.get_close_matches(flag, list(flags), n=1, cutoff=0.6)
            key = flags[close[0]][0] if close else None
            hint = f"did you mean {key}=…?" if key else f"python -m {command} --help lists the keys"
            fail(command, f"{flag}: no such option; options are key=value: {hint}")


def prepare_argv(
    command: str,
    config_name: str,
    text_keys: Sequence[str] = (),
    argv: list[str] | None = None,
    positional: str | None = None,
    flags: Mapping[str, tuple[str, str]] | None = None,
) -> None:
    """Make ``argv`` (default ``sys.argv``, changed in place) ready for the command's ``@hydra.main``.

    Args:
        command: the name in messages, e.g. ``"nmt.plot"``.
        config_name: its entry config in ``conf/``, e.g. ``"plot"``.
        text_keys: keys whose values are free text (sentences), quoted for Hydra.
        argv: the command line, program name first.
        positional: the list key that bare arguments fill (``nmt.compare runs/a runs/b`` ≡ ``runs=[runs/a,runs/b]``).
        flags: the command's older ``--flag`` options, still accepted with a note (see ``legacy_flags``).
    """
    argv = sys.argv if argv is None else argv
    args = argv[1:]
    if "--help" in args or "-h" in args:
        print(help_text(command, config_name))
        raise SystemExit(0)
    try:
        args = take_plugins(args)
    except ConfigError as err:
        fail(command, str(err))
    if flags:
        args = legacy_flags(command, args, flags)
        _unknown_option(command, args, flags)
    if positional:
        args = positional_list(args, positional)
    args = quote_text_args(args, text_keys)
    argv[1:] = args
    if any(a.startswith("-") for a in args):  # Hydra's own flags (multirun, --cfg …): Hydra decides
        return
    try:
        overrides = OverridesParser.create().parse_overrides(args)
    except HydraException as err:
        fail(command, f"cannot read the command line ({str(err).splitlines()[0]}); put values with spaces, "
             "commas or non-ASCII letters in quotes: key='a value, with commas'")  # fmt: skip
    check_keys(command, config_name, overrides)
    _check_run_folders(command, config_name, overrides)


def read_sentences(path: str, key: str) -> list[str]:
    """The non-blank lines of a UTF-8 text file, or of standard input for ``-`` (``src_file=-``).

    Raises:
        ConfigError: the file is missing, unreadable or holds no sentence (the message names ``key``).
    """
    try:
        text = sys.stdin.read() if path == "-" else Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{key}={path}: cannot read it ({err.__class__.__name__}); give a UTF-8 text file") from None
    sentences = [line.strip() for line in text.splitlines() if line.strip()]
    if not sentences:
        raise ConfigError(f"{key}={path}: no sentence in it; one sentence a line")
    return sentences
