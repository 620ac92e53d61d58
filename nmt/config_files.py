"""Where the entry configs live (``conf/``) and what their comments say: the ``--help`` pages.

Each command's ``--help`` (``nmt.cli.prepare_argv``) lists its own keys, one line each, read from its
entry config and the default files of its config groups, with the comment beside (or just above)
each key as its description.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
_LEAF = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w-]*):(?P<value>[^#]*?)\s*(?:#\s?(?P<comment>.*))?$")


def _entry_lines(config_name: str) -> list[str]:
    """The lines of an entry config, after those of the entry configs its defaults list names."""
    path = CONF_DIR / f"{config_name}.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    parents = []
    in_defaults = False
    for line in lines:
        if line.startswith("defaults:"):
            in_defaults = True
        elif in_defaults and re.match(r"^\s+-\s*(\w+)\s*$", line):
            name = line.split("-", 1)[1].strip()
            if (CONF_DIR / f"{name}.yaml").is_file():
                parents.append(name)
        elif in_defaults and not line.startswith((" ", "-")):
            in_defaults = False
    return [line for parent in parents for line in _entry_lines(parent)] + lines


def _first_sentence(text: str) -> str:
    """The first sentence of a comment block, for a one-line description."""
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _leaves(lines: Sequence[str], prefix: str = "") -> Iterator[tuple[str, str, str]]:
    """(dotted key, value, comment) of each ``key: value  # comment`` outside ``defaults`` and ``hydra``;
    a key without a comment of its own gets the first line of the comment block just above it."""
    path: list[tuple[int, str]] = []
    above: list[tuple[int, str]] = []  # (column, text) of the comment lines just above
    started = False  # the file's leading comment block describes the file, not its first key
    for line in lines:
        if line.strip().startswith("#"):
            if started:
                above.append((line.index("#"), line.strip().lstrip("# ").strip()))
            continue
        match = _LEAF.match(line)
        started = started or match is not None
        block, above = [t for col, t in above if match and col <= len(match["indent"])], []
        if match is None:
            continue
        comment = match["comment"] or _first_sentence(" ".join(block))
        indent, key = len(match["indent"]), match["key"]
        path = [(i, k) for i, k in path if i < indent]
        if path and path[0][1] in ("defaults", "hydra") or indent == 0 and key in ("defaults", "hydra"):
            path.append((indent, key))
            continue
        dotted = prefix + ".".join([k for _, k in path] + [key])
        if match["value"]:
            if key not in ("_target_", "_partial_"):
                yield dotted, match["value"].strip(), comment.strip()
        else:
            path.append((indent, key))


def _groups(lines: Sequence[str]) -> dict[str, str]:
    """Config groups of the defaults list and their default choice, e.g. ``{"decode": "beam"}``."""
    groups = {}
    for line in lines:
        match = re.match(r"^\s+-\s*(\w+)\s*:\s*(\S+)", line)
        if match and (CONF_DIR / match[1]).is_dir():
            groups[match[1]] = match[2]
    return groups


def _group_files(group: str, default: str) -> list[Path]:
    """The files a group's default choice brings in: ``name``, a list ``[a, b]``, and the names of
    the chosen file's own defaults list (conf/callbacks/default.yaml lists others)."""
    files = []
    for name in (n.strip() for n in default.strip("[]").split(",") if n.strip()):
        path = CONF_DIR / group / f"{name}.yaml"
        if not path.is_file():
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        nested = [m[1] for line in lines if (m := re.match(r"^\s+-\s*(\w+)\s*$", line))]
        files += [CONF_DIR / group / f"{n}.yaml" for n in nested if (CONF_DIR / group / f"{n}.yaml").is_file()]
        files.append(path)
    return files


def help_text(command: str, config_name: str) -> str:
    """The ``--help`` page of a Hydra command: its usage lines and each of its keys on one line."""
    own = (CONF_DIR / f"{config_name}.yaml").read_text(encoding="utf-8").splitlines()
    usage = []
    for line in own:  # the leading comment block
        if not line.startswith("#"):
            break
        usage.append(line.lstrip("# ").rstrip())
    lines = _entry_lines(config_name)
    rows = []
    leaves = list(_leaves(lines))
    for group, default in _groups(lines).items():
        choices = "|".join(sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml")))
        rows.append((f"{group}={choices}", f"config group conf/{group}/ (default: {default})"))
        for default_file in _group_files(group, default):
            leaves = list(_leaves(default_file.read_text(encoding="utf-8").splitlines(), f"{group}.")) + leaves
    seen: dict[str, tuple[str, str]] = {}
    for key, value, comment in leaves:
        shown = value if len(value) <= 30 else value[:27] + "..."
        seen[key] = (f"{key}={shown}", comment or seen.get(key, ("", ""))[1])
    rows += list(seen.values())
    width = min(max(len(left) for left, _ in rows), 40)
    body = [f"  {left:<{width}}  {right}".rstrip() for left, right in rows]
    tail = f"Any key: key=value. Sentences need no extra quotes. Hydra's own options: python -m {command} --hydra-help"
    return "\n".join([f"{command} (python -m {command}): options", *usage, "", *body, "", tail])


def required_keys(config_name: str) -> set[str]:
    """The keys an entry config leaves to the command line (``???``), e.g. ``{"run"}``."""
    return {key for key, value, _ in _leaves(_entry_lines(config_name)) if value == "???"}
