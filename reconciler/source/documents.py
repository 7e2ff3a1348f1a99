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
MAX_DEPTH = 200
# Signs that a document may be nested deep: many block indicators on one line, or a very
# deep indent. Flow collections are counted separately (see parse_document).
_DEEP_HINT = re.compile(r"(?:[-?:][ \t]+){20,}|^[ \t]{200,}\S", re.MULTILINE)

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

    # PyYAML's scalar constructors raise ValueError, KeyError or IndexError on explicitly
    # tagged junk (``!!int ""``, ``!!bool maybe``) and on ``0b_``; make those YAML errors.
    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        value: int = _scalar(super().construct_yaml_int, node)
        if value.bit_length() > MAX_INT_BITS:  # Python cannot even print it (int_max_str_digits)
            raise _value_error(node, "integer too large")
        return value

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        value: float = _scalar(super().construct_yaml_float, node)
        return value

    def construct_yaml_bool(self, node: yaml.ScalarNode) -> bool:
        value: bool = _scalar(super().construct_yaml_bool, node)
        return value


MAX_INT_BITS = 14_000  # about 4,200 digits, under Python's default int_max_str_digits


def _scalar(construct: Any, node: yaml.ScalarNode) -> Any:
    try:
        return construct(node)
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise _value_error(node, f"invalid {node.tag.rpartition(':')[2]} value") from exc


def _value_error(node: yaml.Node, problem: str) -> yaml.constructor.ConstructorError:
    shown = repr(node.value) if isinstance(node.value, str) else ""
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return yaml.constructor.ConstructorError(
        None, None, f"{problem} {shown}".rstrip(), node.start_mark
    )


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    if not isinstance(node, yaml.MappingNode):  # ``!!map`` on a scalar or a sequence
        raise yaml.constructor.ConstructorError(
            None, None, f"expected a mapping node, but found {node.id}", node.start_mark
        )
    own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)
    merged = len(node.value) - own  # merged pairs come first; the mapping's own keys win
    mapping: dict[Any, Any] = {}
    own_keys: set[Any] = set()
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        if index >= merged:
            try:
                duplicate = key in own_keys
            except TypeError:
                line = key_node.start_mark.line + 1
                raise DocumentError("unhashable mapping key", line) from None
            if duplicate:
                raise DocumentError(f"duplicate key {key!r}", key_node.start_mark.line + 1)
            own_keys.add(key)
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)
_Loader.add_constructor("tag:yaml.org,2002:bool", _Loader.construct_yaml_bool)


def _timestamp_as_string(loader: _Loader, node: yaml.ScalarNode) -> str:
    """An explicit ``!!timestamp`` stays a string too (a datetime would also poison the
    cache, whose unpickler refuses every class)."""
    return str(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_string)


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
        if _only_directives(text[start : marker.start()]):
            continue  # "%YAML 1.1" belongs to the document its "---" starts
        _append_chunk(chunks, text[start : marker.start()], line)
        line += text.count("\n", start, marker.start())
        start = marker.start()
    _append_chunk(chunks, text[start:], line)
    return chunks


def _append_chunk(chunks: list[Chunk], text: str, line: int) -> None:
    if any(_is_content(raw) for raw in text.splitlines()):
        chunks.append(Chunk(line, text))


def _only_directives(text: str) -> bool:
    if "%" not in text:  # the common case, decided without looking at every line
        return False
    lines = [raw.strip() for raw in text.splitlines() if _is_content(raw)]
    return bool(lines) and all(line.startswith("%") for line in lines)


def _is_content(raw: str) -> bool:
    body = _MARKER.sub("", raw, count=1).strip()
    return bool(body) and not body.startswith("#")


def parse_document(chunk: Chunk) -> Any:
    """Parse one document; raise :class:`DocumentError` with a file line on any problem."""
    text = chunk.text
    if _DEEP_HINT.search(text) or text.count("[") + text.count("{") > MAX_DEPTH:
        _check_depth(chunk)
    try:
        data = _parse_plain(text) if _is_plain(text) else _parse_general(text)
    except DocumentError as exc:
        raise DocumentError(str(exc), chunk.line + exc.line - 1) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # libyaml puts the end of a stream without a final newline on the line after it
        last = chunk.line + max(len(text.splitlines()) - 1, 0)
        line = min(chunk.line + (mark.line if mark else 0), last)
        problem = exc.problem or exc.context or "invalid YAML"
        raise DocumentError(problem, line) from None
    except yaml.YAMLError as exc:
        raise DocumentError(str(exc), chunk.line) from None
    except RecursionError:
        raise DocumentError("document nested too deeply", chunk.line) from None
    if "*" in text:
        _check_alias_expansion(data, chunk.line)
    return data


def _is_plain(text: str) -> bool:
    """No anchors, aliases, tags or merge keys: the common case, built by the fast path."""
    return "&" not in text and "*" not in text and "!" not in text and "<<" not in text


def _parse_general(text: str) -> Any:
    """PyYAML's safe construction (anchors, aliases, merge keys, standard tags)."""
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_FLOAT = "tag:yaml.org,2002:float"


def _parse_plain(text: str) -> Any:
    """Compose with libyaml and build the data directly: a third faster than PyYAML's
    generic constructor, which matters at 50,000 documents. Anything unusual (a tag the fast
    path does not know) falls back to :func:`_parse_general`."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _build(loader, node)
    except _NotPlain:
        return _parse_general(text)
    finally:
        loader.dispose()


class _NotPlain(Exception):
    """A node the fast path leaves to PyYAML's constructor."""


def _build(loader: _Loader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        tag, value = node.tag, node.value
        if tag == _STR:
            return value
        if tag == _INT:
            return loader.construct_yaml_int(node)
        if tag == _BOOL:
            return loader.bool_values[value.lower()]
        if tag == _NULL:
            return None
        if tag == _FLOAT:
            return loader.construct_yaml_float(node)
        raise _NotPlain(tag)
    if isinstance(node, yaml.MappingNode):
        if node.tag != "tag:yaml.org,2002:map":
            raise _NotPlain(node.tag)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _build(loader, key_node)
            try:
                duplicate = key in mapping
            except TypeError:
                raise DocumentError(
                    "unhashable mapping key", key_node.start_mark.line + 1
                ) from None
            if duplicate:
                raise DocumentError(f"duplicate key {key!r}", key_node.start_mark.line + 1)
            mapping[key] = _build(loader, value_node)
        return mapping
    if node.tag != "tag:yaml.org,2002:seq":
        raise _NotPlain(node.tag)
    return [_build(loader, item) for item in node.value]


def _check_depth(chunk: Chunk) -> None:
    """Refuse documents nested deeper than ``MAX_DEPTH`` before composing them.

    libyaml's parser is iterative, but PyYAML's composer recurses in C: a document nested
    100,000 deep crashes the process. So a document that may be deep is first walked as a
    stream of events, which costs no stack.
    """
    depth = 0
    try:
        for event in yaml.parse(chunk.text, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    line = chunk.line + (event.start_mark.line if event.start_mark else 0)
                    raise DocumentError(f"document nested more than {MAX_DEPTH} deep", line)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return  # not YAML: the parse proper reports it with its line


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
