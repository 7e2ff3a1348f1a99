"""Split YAML files into documents and parse each one safely.

Files are split on document markers first, so that one broken document costs only itself: the
other documents of the file are still read. Parsing uses libyaml (PyYAML's C loader) with three
guards the default loader lacks: duplicate keys are errors (Kubernetes rejects them), timestamps
stay strings (as they do through Kubernetes' JSON conversion), and alias expansion is bounded
(a "billion laughs" document is an error, not an out-of-memory).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

YAML_SUFFIXES = (".yaml", ".yml")
DEFAULT_MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ALIAS_EXPANSION = 100_000

_MARKER = re.compile(r"^(?:---|\.\.\.)(?=[ \t\r\n]|$)", re.MULTILINE)


class DocumentError(ValueError):
    """A document could not be parsed; ``line`` is 1-based (within the chunk while parsing,
    within the file once :func:`parse_document` re-raises it)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


def _no_timestamps() -> dict[Any, Any]:
    """SafeLoader's implicit resolvers minus timestamps."""
    return {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
    }


class _Loader(yaml.CSafeLoader):
    """libyaml parser; mappings reject duplicate keys; timestamps are plain strings."""

    yaml_implicit_resolvers = _no_timestamps()


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in mapping
        except TypeError:
            raise DocumentError("unhashable mapping key", key_node.start_mark.line + 1) from None
        if duplicate:
            raise DocumentError(f"duplicate key {key!r}", key_node.start_mark.line + 1)
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


@dataclass(frozen=True, slots=True)
class Chunk:
    """The text of one document and the 1-based line of the file where it starts."""

    line: int
    text: str


def split_documents(text: str) -> list[Chunk]:
    """Cut a YAML stream at its document markers, keeping each chunk's starting line.

    A chunk that holds only comments or whitespace is dropped, as YAML drops it.
    """
    chunks: list[Chunk] = []
    start, line = 0, 1
    for marker in _MARKER.finditer(text):
        _append_chunk(chunks, text[start : marker.start()], line)
        line += text.count("\n", start, marker.start())
        start = marker.start()
    _append_chunk(chunks, text[start:], line)
    return chunks


def _append_chunk(chunks: list[Chunk], text: str, line: int) -> None:
    if any(_is_content(raw) for raw in text.splitlines()):
        chunks.append(Chunk(line, text))


def _is_content(raw: str) -> bool:
    body = _MARKER.sub("", raw, count=1).strip()
    return bool(body) and not body.startswith("#")


def parse_document(chunk: Chunk) -> Any:
    """Parse one document; raise :class:`DocumentError` with a file line on any problem."""
    loader = _Loader(chunk.text)
    try:
        data = loader.get_single_data()
    except DocumentError as exc:
        raise DocumentError(str(exc), chunk.line + exc.line - 1) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = chunk.line + (mark.line if mark else 0)
        problem = exc.problem or exc.context or "invalid YAML"
        raise DocumentError(problem, line) from None
    except yaml.YAMLError as exc:
        raise DocumentError(str(exc), chunk.line) from None
    except RecursionError:
        raise DocumentError("document nested too deeply", chunk.line) from None
    finally:
        loader.dispose()
    if "*" in chunk.text:
        _check_alias_expansion(data, chunk.line)
    return data


def _check_alias_expansion(data: Any, line: int) -> None:
    """Refuse documents whose aliases expand to more than ``MAX_ALIAS_EXPANSION`` nodes.

    PyYAML shares aliased objects instead of copying them, so a billion-laughs document is small
    in memory; but anything that walks it (validation, JSON) would expand it. Sizes are counted
    once per shared object, and a reference cycle is refused outright.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, dict | list):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise DocumentError("recursive alias (a document that contains itself)", line)
        active.add(key)
        children = node.values() if isinstance(node, dict) else node
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_ALIAS_EXPANSION:
                raise DocumentError(
                    f"aliases expand to more than {MAX_ALIAS_EXPANSION} nodes (alias bomb?)", line
                )
        active.discard(key)
        sizes[key] = total
        return total

    size(data)
