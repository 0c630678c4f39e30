"""Every config key is documented once, in its model: the docstring below each field (pydantic's field
description) in include/analytics_ops/core/settings_*.py and config.py; a map's or a list's entry by
its model's docstring. From those descriptions this writes docs/configuration.md (every key, its type, default,
shipped value and what it changes) and the comment above each key of config/analytics_ops.yaml, so
neither can drift from the code (tests/unit/test_docs.py regenerates both and compares).

    scripts/with-env python scripts/config_reference.py            # rewrite both
    scripts/with-env python scripts/config_reference.py --check    # exit 1 if either is out of date
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import textwrap
import types
import typing
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from analytics_ops.core.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT, SuiteConfig

OUT = PROJECT_ROOT / "docs" / "configuration.md"


def _show(value: Any) -> str:
    from pydantic_core import PydanticUndefined

    if value is PydanticUndefined:
        return "required"
    if value == "":
        return '""'
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
            if seconds >= size and seconds % size == 0:
                return f"{int(seconds // size)}{unit}"
        return f"{seconds}s"
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, dict):
        return "{}" if not value else "(see below)"
    if value is None:
        return "none"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return "duration" if args[0] is timedelta else _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(str(a) for a in args)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + " (optional)"
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[0])} to {_type_name(args[1])}"
    if annotation is timedelta:
        return "duration"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def _model_of(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """('', M) for a section, ('.<key>', M) for a map of sections, ('[]', M) for a list of them."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "", annotation
    if origin in (types.UnionType, typing.Union):
        for arg in args:
            if found := _model_of(arg):
                return found
    if origin is list and args and _model_of(args[0]):
        return "[]", _model_of(args[0])[1]
    if origin is dict and args and _model_of(args[1]):
        return None if args[1] is None else (".<key>", _model_of(args[1])[1])
    return None


# How each map of sections names its keys in the reference.
MAP_KEYS = {
    "dags": "<dag_id>",
    "alerting.routes": "<severity>",
    "mv_refresh.groups": "<group>",
    "health_check.suite.mv_refresh": "<group>",
}


def _entry_description(model: type[BaseModel]) -> str | None:
    """What one entry of a map or list of sections is: the first paragraph of its model's docstring."""
    doc = inspect.getdoc(model)
    return " ".join(doc.split("\n\n")[0].split()) if doc and model.__doc__ else None


def keys(model: type[BaseModel] = SuiteConfig, prefix: str = "") -> list[tuple[str, Any, Any, str | None]]:
    """(dotted key, annotation, default, description) of every key, sections before their keys."""
    found = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        default = field.get_default(call_default_factory=True)
        description = " ".join(field.description.split()) if field.description else None
        found.append((path, field.annotation, default, description))
        nested = _model_of(field.annotation)
        if nested:
            shape, sub = nested
            if shape == ".<key>":
                sub_prefix = f"{path}.{MAP_KEYS.get(path, '<key>')}"
                found.append((sub_prefix, sub, None, _entry_description(sub)))
                found.extend(keys(sub, f"{sub_prefix}."))
            else:
                if shape == "[]":
                    found.append((f"{path}[]", sub, None, _entry_description(sub)))
                found.extend(keys(sub, f"{path}{shape}."))
    return found


def _shipped(raw: dict, path: str) -> Any:
    node: Any = raw
    for part in path.replace("[]", "").split("."):
        if part.startswith("<") or not isinstance(node, dict) or part not in node:
            return "—"
        node = node[part]
    return node


def render() -> tuple[str, list[str]]:
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    missing = []
    lines = [
        "# Configuration reference",
        "",
        "Generated by `scripts/config_reference.py` from the typed config: each key's description is in its",
        "model (`include/analytics_ops/core/settings_*.py`), the one place it is written; the comments of",
        "[`config/analytics_ops.yaml`](../config/analytics_ops.yaml) are generated from the same descriptions.",
        "`make docs` rewrites both and `tests/unit/test_docs.py` fails when either is out of date.",
        "Every key is optional: a key left out takes",
        'its **default**; "shipped" is the value in the config file as committed. Durations are a number and a',
        "unit (`500ms`, `30s`, `5m`, `2h`, `7d`). Another file: `ANALYTICS_OPS_CONFIG=/path`. A wrong key, type",
        "or value stops the DAGs' parse with a message naming the key.",
        "",
    ]
    section = None
    for path, annotation, default, description in keys():
        top = path.split(".")[0]
        if top != section:
            section = top
            lines += ["", f"## `{top}`", "", "| key | type | default | shipped | what it changes |"]
            lines.append("|---|---|---|---|---|")
        if not description:
            missing.append(path)
            description = "**undocumented**"
        shipped = _shipped(raw, path)
        shipped_text = "(see below)" if isinstance(shipped, dict) and shipped else _show(shipped)
        if isinstance(shipped, list) and shipped and isinstance(shipped[0], dict):
            shipped_text = "(see the file)"
        if shipped == "—":
            shipped_text = "—"
        cells = [f"`{path}`", _type_name(annotation), f"`{_show(default)}`", f"`{shipped_text}`", description]
        lines.append("| " + " | ".join(c.replace("|", "\\|") if i == 4 else c for i, c in enumerate(cells)) + " |")
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n", missing


_KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_]\w*|P[0-3]):(?P<rest>.*)$")


def _normalized(parents: list[str], key: str) -> str:
    """dags.analytics_stuck_work.deadline -> dags.<dag_id>.deadline, as the reference names keys."""
    path = ""
    for part in [*parents, key]:
        path = f"{path}.{MAP_KEYS[path]}" if path in MAP_KEYS else (f"{path}.{part}" if path else part)
    return path


def commented_config(text: str) -> str:
    """The config file with the comment block right above each key written from its description.

    Values, blank lines, the header and comments that stand alone (a blank line below them) are
    kept as they are. A key of a map (`dags.<dag_id>.deadline`) is commented where it first appears.
    """
    descriptions = {path: description for path, _, _, description in keys() if description}
    out: list[str] = []
    stack: list[tuple[int, str]] = []
    seen: set[str] = set()
    for line in text.splitlines():
        match = _KEY_LINE.match(line)
        if not match:
            out.append(line)
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = _normalized([k for _, k in stack], match["key"])
        stack.append((indent, match["key"]))
        if path not in descriptions or path in seen:
            out.append(line)
            continue
        seen.add(path)
        while out and out[-1].strip().startswith("#"):  # the old comment block of this key
            out.pop()
        width = 100 - indent - 2
        out += [f"{match['indent']}# {piece}" for piece in textwrap.wrap(descriptions[path], width)]
        out.append(line)
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if either file is out of date")
    args = parser.parse_args(argv)
    text, missing = render()
    if missing:
        print(f"keys with no description (write a docstring below the field in its model): {missing}", file=sys.stderr)
        return 1
    config = commented_config(DEFAULT_CONFIG_PATH.read_text())
    stale = [path for path, new in ((OUT, text), (DEFAULT_CONFIG_PATH, config)) if path.read_text() != new]
    if args.check:
        for path in stale:
            print(f"{path} is out of date: run `make docs`", file=sys.stderr)
        return 1 if stale else 0
    for path, new in ((OUT, text), (DEFAULT_CONFIG_PATH, config)):
        path.write_text(new)
        print(f"wrote {Path(path).relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
