"""Find the line of a field inside a document, lazily.

Parsing 50,000 documents with a line for every field would double the cost of loading, yet only
the few documents with findings need lines. So documents are parsed once, fast, without
positions, and a document is composed again (with marks) only when a finding points into it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import yaml

PathPart = str | int

_PART = re.compile(r'\.?([^.\[\]"]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


def format_path(parts: Sequence[PathPart]) -> str:
    """``("spec", "http", 0, "route")`` -> ``spec.http[0].route``; odd keys are quoted."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif re.fullmatch(r"[A-Za-z0-9_\-$]+", part):
            out.append(f".{part}" if out else part)
        else:
            escaped = part.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'["{escaped}"]')
    return "".join(out)


def parse_path(path: str) -> list[PathPart]:
    """The inverse of :func:`format_path`."""
    parts: list[PathPart] = []
    for match in _PART.finditer(path):
        name, index, quoted = match.groups()
        if index is not None:
            parts.append(int(index))
        elif quoted is not None:
            parts.append(re.sub(r"\\(.)", r"\1", quoted))
        else:
            parts.append(name)
    return parts


def locate(text: str, first_line: int, path: str) -> int:
    """The 1-based file line of ``path`` in the document ``text`` starting at ``first_line``.

    Returns the line of the deepest part of the path that exists (a missing field points at
    its parent), or ``first_line`` when the document cannot be composed.
    """
    try:
        node: yaml.Node | None = yaml.compose(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return first_line
    if node is None:
        return first_line
    line = node.start_mark.line
    for part in parse_path(path):
        child = _child(node, part)
        if child is None:
            break
        key_line, node = child
        line = key_line
    return first_line + line


def _child(node: yaml.Node, part: PathPart) -> tuple[int, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                return key.start_mark.line, value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        item = node.value[part]
        return item.start_mark.line, item
    return None
