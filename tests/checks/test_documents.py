"""Files that are not valid YAML (``invalid-yaml``) and objects that do not fit their schema
(``schema``): each is reported at its own line, and the other documents are still checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.checking import CheckOptions

from .mesh import BASE, check_tree, codes, line_of, only

VALID = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: first
  namespace: shop
spec:
  hosts:
    - first
  http:
    - route:
        - destination:
            host: reviews
"""

DANGLING = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: last
  namespace: shop
spec:
  hosts:
    - last
  http:
    - route:
        - destination:
            host: reviews
            subset: v9
"""


def between(broken: str) -> str:
    """``broken`` as the middle document of a file whose other documents are checked too."""
    return f"{VALID}---\n{broken}---\n{DANGLING}"


MARKER = VALID.count("\n") + 1
"""The line of the ``---`` that starts the middle document: where a finding about the whole
document (rather than one of its fields) points."""


def middle_line(broken: str, needle: str) -> int:
    """The file line of ``needle`` in the middle document."""
    return MARKER + line_of(broken, needle)


# --------------------------------------------------------------------------- invalid YAML


@pytest.mark.parametrize(
    ("broken", "needle", "message"),
    [
        (
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: a: b\n",
            "name: a: b",
            "mapping values are not allowed",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata:\n\tname: tabbed\n",
            "tabbed",
            "found character that cannot start any token",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  name: y\n",
            "name: y",
            "duplicate key 'name'",
        ),
        ("apiVersion: v1\nkind: Service\nmetadata: *nowhere\n", "*nowhere", "undefined alias"),
        (
            "apiVersion: v1\nkind: Service\nmetadata:\n  labels: {app: x\n  name: x\n",
            "name: x",
            "",
        ),
    ],
    ids=["mapping-values", "tab", "duplicate-key", "undefined-alias", "unclosed-flow"],
)
def test_syntax_errors_at_their_line(
    tmp_path: Path, broken: str, needle: str, message: str
) -> None:
    text = between(broken)
    report = check_tree(tmp_path, {"case.yaml": text})
    assert codes(report) == ["invalid-yaml", "subset-not-found"]
    finding = only(report, "invalid-yaml")
    assert (finding.file, finding.line) == ("case.yaml", middle_line(broken, needle))
    assert (finding.kind, finding.name, finding.field) == (None, None, None)
    assert message in finding.message
    # the documents before and after it are still read and checked
    dangling = only(report, "subset-not-found")
    assert (dangling.name, dangling.line) == ("last", line_of(text, "subset: v9"))
    assert report.checked_resources == 15 + 2  # the base mesh and the two good documents


def test_error_at_the_end_of_a_document_stays_in_it(tmp_path: Path) -> None:
    """libyaml notices the missing ``]`` after the last line: not on the next ``---``."""
    broken = "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  labels: [a\n"
    text = between(broken)
    report = check_tree(tmp_path, {"case.yaml": text})
    assert only(report, "invalid-yaml").line == middle_line(broken, "labels: [a")
    assert codes(report) == ["invalid-yaml", "subset-not-found"]


def test_alias_bomb_is_refused_not_expanded(tmp_path: Path) -> None:
    rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    rows += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    bomb = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n" + "".join(
        f"  {row}\n" for row in rows
    )
    text = between(bomb)
    report = check_tree(tmp_path, {"case.yaml": text})
    finding = only(report, "invalid-yaml")
    assert "alias" in finding.message
    assert finding.line == MARKER  # where the document starts
    assert codes(report) == ["invalid-yaml", "subset-not-found"]


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    deep = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata: " + "[" * 5000
    deep += "]" * 5000 + "\n"
    text = between(deep)
    report = check_tree(tmp_path, {"case.yaml": text})
    finding = only(report, "invalid-yaml")
    assert "nested" in finding.message
    assert finding.line == middle_line(deep, "data: [")
    assert codes(report) == ["invalid-yaml", "subset-not-found"]


@pytest.mark.parametrize(
    "data",
    [b"\xff\xfe\x00garbage", "kind: Service\nname: caf\xe9\n".encode("latin-1")],
    ids=["binary", "latin-1"],
)
def test_file_that_is_not_utf8(tmp_path: Path, data: bytes) -> None:
    report = check_tree(tmp_path, {"binary.yaml": data, "case.yaml": DANGLING})
    finding = only(report, "invalid-yaml")
    assert (finding.file, finding.line) == ("binary.yaml", 1)
    assert "not UTF-8" in finding.message
    assert codes(report) == ["invalid-yaml", "subset-not-found"]  # other files still checked


def test_control_characters_are_invalid_yaml(tmp_path: Path) -> None:
    report = check_tree(tmp_path, {"nul.yaml": "kind: Service\x00\n"})
    finding = only(report, "invalid-yaml")
    assert (finding.file, finding.line) == ("nul.yaml", 1)


def test_file_over_the_size_limit_is_not_parsed(tmp_path: Path) -> None:
    big = DANGLING.replace("last", "big") + "# padding\n" * 1000
    assert len(big) > 2 * max(len(text) for text in BASE.values())
    options = CheckOptions(cache_dir=None, max_file_bytes=len(big.encode()) - 1)
    report = check_tree(tmp_path, {"big.yaml": big, "case.yaml": DANGLING}, options=options)
    finding = only(report, "invalid-yaml")
    assert (finding.file, finding.line) == ("big.yaml", 1)
    assert f"over the limit of {len(big.encode()) - 1}" in finding.message
    assert [(f.code, f.file) for f in report.findings] == [
        ("invalid-yaml", "big.yaml"),
        ("subset-not-found", "case.yaml"),
    ]
    at_limit = CheckOptions(cache_dir=None, max_file_bytes=len(big.encode()))
    report = check_tree(tmp_path, {"big.yaml": big}, options=at_limit)
    assert [(f.code, f.name) for f in report.findings] == [
        ("subset-not-found", "big"),
        ("subset-not-found", "last"),
    ]


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n", "---\n---\n", "...\n"])
def test_empty_files_are_fine(tmp_path: Path, text: str) -> None:
    report = check_tree(tmp_path, {"empty.yaml": text})
    assert report.findings == []
    assert report.checked_files == 6


# --------------------------------------------------------------------------- schema

VS_HEAD = "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"


@pytest.mark.parametrize(
    ("broken", "field", "needle", "message"),
    [
        (
            VS_HEAD + "metadata:\n  name: x\n  namespace: shop\nspec:\n  hostz:\n    - x\n",
            "spec.hostz",
            "hostz:",
            "unknown field 'spec.hostz'",
        ),
        (
            VS_HEAD + "metadata:\n  name: x\n  namespace: shop\nspec:\n  hosts: [x]\n"
            "  http:\n    - route:\n        - destination:\n            host: reviews\n"
            '          weight: "100"\n',
            "spec.http[0].route[0].weight",
            'weight: "100"',
            "valid integer",
        ),
        (
            VS_HEAD + "metadata:\n  name: x\n  namespace: shop\nspec:\n  hosts: [x]\n"
            "  http:\n    - route:\n        - destination:\n            subset: v1\n",
            "spec.http[0].route[0].destination.host",
            "- destination:",  # a missing field points at its parent
            "spec.http[0].route[0].destination.host is required",
        ),
        (
            VS_HEAD + "metadata:\n  name: x\n  namespace: shop\nspec:\n  hosts: [x]\n"
            "  http:\n    - match:\n        - uri:\n"
            "            exact: /a\n            prefix: /a\n",
            "spec.http[0].match[0].uri",
            "- uri:",
            "only one of exact, prefix, regex may be set",
        ),
        (
            VS_HEAD + "metadata:\n  name: x\n  namespace: shop\nspec:\n  hosts: x\n",
            "spec.hosts",
            "hosts: x",
            "valid list",
        ),
    ],
    ids=["unknown-field", "string-weight", "missing-required", "oneof", "string-for-list"],
)
def test_schema_errors_at_their_field(
    tmp_path: Path, broken: str, field: str, needle: str, message: str
) -> None:
    text = between(broken)
    report = check_tree(tmp_path, {"case.yaml": text})
    assert codes(report) == ["schema", "subset-not-found"]
    finding = only(report, "schema")
    assert (finding.kind, finding.namespace, finding.name) == ("VirtualService", "shop", "x")
    assert (finding.field, finding.line) == (field, middle_line(broken, needle))
    assert message in finding.message


def test_missing_name(tmp_path: Path) -> None:
    broken = VS_HEAD + "metadata:\n  namespace: shop\nspec:\n  hosts: [x]\n"
    text = between(broken)
    finding = only(check_tree(tmp_path, {"case.yaml": text}), "schema")
    assert (finding.kind, finding.namespace, finding.field) == (
        "VirtualService",
        "shop",
        "metadata.name",
    )
    assert finding.name is None
    assert finding.line == middle_line(broken, "metadata:")
    assert finding.message == "metadata.name is required"


@pytest.mark.parametrize("version", ["v2", "v1alpha1"])
def test_unserved_api_version(tmp_path: Path, version: str) -> None:
    broken = (
        f"apiVersion: networking.istio.io/{version}\nkind: VirtualService\n"
        "metadata:\n  name: x\nspec:\n  hosts: [x]\n"
    )
    text = between(broken)
    report = check_tree(tmp_path, {"case.yaml": text})
    finding = only(report, "unknown-kind")
    assert (finding.kind, finding.field, finding.severity) == (
        "VirtualService",
        "apiVersion",
        "error",
    )
    assert finding.line == middle_line(broken, "apiVersion:")
    assert f"not served at networking.istio.io/{version}" in finding.message
    assert codes(report) == ["unknown-kind", "subset-not-found"]


@pytest.mark.parametrize(
    "broken",
    ["- a\n- list\n", "just a string\n", "apiVersion: v1\nmetadata:\n  name: x\n", "kind: Pod\n"],
    ids=["list", "scalar", "no-kind", "no-apiVersion"],
)
def test_document_that_is_not_an_object(tmp_path: Path, broken: str) -> None:
    text = between(broken)
    report = check_tree(tmp_path, {"case.yaml": text})
    finding = only(report, "schema")
    assert (finding.kind, finding.name, finding.field) == (None, None, None)
    assert finding.line == MARKER
    assert "not a Kubernetes object" in finding.message
    assert codes(report) == ["schema", "subset-not-found"]


def test_kinds_not_checked_are_named_in_the_report(tmp_path: Path) -> None:
    text = between("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: b\n")
    report = check_tree(tmp_path, {"case.yaml": text})
    assert codes(report) == ["subset-not-found"]
    [listed] = report.not_checked
    assert (listed.kind, listed.namespace, listed.name, listed.file) == (
        "ConfigMap",
        "default",
        "x",
        "case.yaml",
    )
