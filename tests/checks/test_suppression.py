"""Suppression (annotation and ``--ignore`` rules) and determinism of the whole check."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler.checking import CheckOptions
from reconciler.checks.suppression import IgnoreRule
from reconciler.errors import UsageError
from reconciler.output import OutputContext, get_writer

from .mesh import BASE, check_tree, codes


def mobile(name: str, annotation: str = "") -> str:
    """A VirtualService with a missing subset, a missing host and a single weight of 50."""
    annotations = f"  annotations:\n    meshrc.io/ignore: {annotation}\n" if annotation else ""
    return f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: {name}
  namespace: shop
{annotations}spec:
  hosts:
    - {name}
  http:
    - route:
        - destination:
            host: reviews
            subset: v9
          weight: 50
    - route:
        - destination:
            host: reviewz
"""


ALL = ["subset-not-found", "single-destination-weight", "unreachable-rule", "host-not-found"]


def test_unsuppressed(tmp_path: Path) -> None:
    assert codes(check_tree(tmp_path, {"a.yaml": mobile("mobile")})) == ALL


@pytest.mark.parametrize(
    ("annotation", "left"),
    [
        ('"subset-not-found"', [c for c in ALL if c != "subset-not-found"]),
        (
            '"subset-not-found, host-not-found"',
            ["single-destination-weight", "unreachable-rule"],
        ),
        ('"host-not-found,unreachable-rule,subset-not-found,single-destination-weight"', []),
        ('"weights-zero"', ALL),  # a code the object does not have
        ('""', ALL),
    ],
)
def test_ignore_annotation(tmp_path: Path, annotation: str, left: list[str]) -> None:
    files = {"a.yaml": mobile("mobile", annotation), "b.yaml": mobile("other")}
    report = check_tree(tmp_path, files)
    assert [f.code for f in report.findings if f.name == "mobile"] == left
    assert [f.code for f in report.findings if f.name == "other"] == ALL  # only on that object


@pytest.mark.parametrize(
    ("rules", "left_on_mobile", "left_on_other"),
    [
        (["subset-not-found"], 3, 3),
        (["subset-not-found=VirtualService/shop/mobile"], 3, 4),
        (["subset-not-found=VirtualService/shop/mob*"], 3, 4),
        (["subset-not-found=VirtualService/*/*"], 3, 3),
        (["subset-not-found=DestinationRule/shop/*"], 4, 4),
        (["subset-not-found=VirtualService/web/*"], 4, 4),
        (["*=VirtualService/shop/other"], 4, 0),
        (["*"], 0, 0),
        (["host-not-found", "unreachable-rule=*/shop/*"], 2, 2),
    ],
)
def test_ignore_rules(
    tmp_path: Path, rules: list[str], left_on_mobile: int, left_on_other: int
) -> None:
    options = CheckOptions(cache_dir=None, ignore=[IgnoreRule.parse(r) for r in rules])
    files = {"a.yaml": mobile("mobile"), "b.yaml": mobile("other")}
    report = check_tree(tmp_path, files, options=options)
    assert sum(f.name == "mobile" for f in report.findings) == left_on_mobile
    assert sum(f.name == "other" for f in report.findings) == left_on_other


def test_ignore_rule_parsing() -> None:
    assert IgnoreRule.parse("subset-not-found") == IgnoreRule("subset-not-found")
    assert IgnoreRule.parse(" host-not-found = VirtualService/a/b ") == IgnoreRule(
        "host-not-found", "VirtualService/a/b"
    )


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("subset-missing", "unknown code 'subset-missing'"),
        ("", "unknown code ''"),
        ("host-not-found=VirtualService/name", "Kind/namespace/name"),
        ("host-not-found=a/b/c/d", "Kind/namespace/name"),
    ],
)
def test_bad_ignore_rules(text: str, complaint: str) -> None:
    with pytest.raises(UsageError, match=complaint):
        IgnoreRule.parse(text)


def test_ignore_rules_apply_to_file_findings(tmp_path: Path) -> None:
    options = CheckOptions(cache_dir=None, ignore=[IgnoreRule.parse("invalid-yaml")])
    report = check_tree(tmp_path, {"bad.yaml": "a: [\n"}, options=options)
    assert report.findings == []


# --------------------------------------------------------------------------- determinism


def _json(tmp_path: Path) -> str:
    files = {"a.yaml": mobile("mobile"), "b.yaml": mobile("other"), "c.yaml": "x: [\n"}
    report = check_tree(tmp_path, files)
    return get_writer("json")(report, OutputContext())


def test_same_input_gives_byte_identical_json(tmp_path: Path) -> None:
    first = _json(tmp_path / "one")
    assert first == _json(tmp_path / "one")
    assert first == _json(tmp_path / "two")  # another folder, written again
    assert first.count('"code"') == 2 * len(ALL) + 1


def test_finding_order_does_not_depend_on_file_order(tmp_path: Path) -> None:
    """Findings are sorted by place, whatever order the files were written or listed in."""
    one, two = tmp_path / "one", tmp_path / "two"
    check_tree(one, {})
    for name in reversed(sorted(BASE)):  # a copy made in the other order
        (two / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(one / name, two / name)
    files = {"z.yaml": mobile("z"), "a.yaml": mobile("a")}
    first = check_tree(one, files)
    second = check_tree(two, dict(reversed(list(files.items()))))
    assert first == second
    assert [f.file for f in first.findings] == sorted(f.file or "" for f in first.findings)
