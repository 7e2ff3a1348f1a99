"""Checks within one VirtualService: weights (http, tcp, tls), duplicate destinations, and the
order of http rules (unreachable rules, ineffective matches)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .mesh import check_tree, codes, line_of, only


def mobile(spec: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\n"
        "kind: VirtualService\n"
        "metadata:\n"
        "  name: mobile\n"
        "  namespace: shop\n"
        "spec:\n"
        "  hosts:\n"
        "    - mobile.shop.svc.cluster.local\n" + spec
    )


TARGETS = [("reviews", "v1"), ("reviews", "v2"), ("productpage", None)]


def destinations(weights: list[int | None]) -> str:
    """A ``route`` list (indented for an http/tcp/tls rule) with one entry per weight."""
    lines = []
    for (host, subset), weight in zip(TARGETS, weights, strict=False):
        lines += ["        - destination:", f"            host: {host}"]
        if subset:
            lines.append(f"            subset: {subset}")
        if weight is not None:
            lines.append(f"          weight: {weight}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- weights


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ([100], []),
        ([None], []),
        ([0], []),  # proto3: 0 is "unset"; the only destination gets everything anyway
        ([1], ["single-destination-weight"]),
        ([99], ["single-destination-weight"]),
        ([50, 50], []),
        ([100, 0], []),
        ([33, 33, 34], []),
        ([60, None], ["weights-not-100"]),
        ([60, 60], ["weights-not-100"]),
        ([1, 2], ["weights-not-100"]),
        ([None, None], ["weights-zero"]),
        ([0, 0], ["weights-zero"]),
        # the CRD takes any int32, Istio's webhook refuses a negative weight
        ([-10], ["schema"]),
        ([-10, 110], ["schema"]),
    ],
)
@pytest.mark.parametrize("protocol", ["http", "tcp", "tls"])
def test_weights(
    tmp_path: Path, protocol: str, weights: list[int | None], expected: list[str]
) -> None:
    match = (
        "      match:\n        - sniHosts:\n            - mobile.shop.svc.cluster.local\n"
        if protocol == "tls"
        else ""
    )
    text = mobile(f"  {protocol}:\n    - route:\n{destinations(weights)}{match}")
    report = check_tree(tmp_path, {"case.yaml": text})
    assert codes(report) == expected
    if not expected:
        return
    finding = report.findings[0]
    assert (finding.kind, finding.name, finding.file) == ("VirtualService", "mobile", "case.yaml")
    if expected in (["single-destination-weight"], ["schema"]):
        assert finding.field == f"spec.{protocol}[0].route[0].weight"
        assert finding.line == line_of(text, "weight:")
    else:
        assert finding.field == f"spec.{protocol}[0].route"
        assert finding.line == line_of(text, "- route:")


def test_weights_of_each_rule_are_checked_separately(tmp_path: Path) -> None:
    text = mobile(
        "  http:\n"
        "    - match:\n        - uri:\n            prefix: /a\n"
        f"      route:\n{destinations([50, 50])}"
        f"    - route:\n{destinations([50, 40])}"
    )
    finding = only(check_tree(tmp_path, {"case.yaml": text}), "weights-not-100")
    assert finding.field == "spec.http[1].route"
    assert finding.line == line_of(text, "- route:")
    assert "50 + 40" in finding.message


# --------------------------------------------------------------------------- duplicates


@pytest.mark.parametrize(
    ("second", "duplicate"),
    [
        ("host: reviews\n            subset: v1", True),
        ("host: reviews.shop.svc.cluster.local\n            subset: v1", True),
        ("host: reviews\n            subset: v2", False),
        (
            "host: reviews\n            subset: v1\n            port:\n              number: 9080",
            False,
        ),
    ],
)
@pytest.mark.parametrize("protocol", ["http", "tcp"])
def test_duplicate_route_destination(
    tmp_path: Path, protocol: str, second: str, duplicate: bool
) -> None:
    text = mobile(
        f"  {protocol}:\n    - route:\n"
        "        - destination:\n            host: reviews\n            subset: v1\n"
        "          weight: 50\n"
        f"        - destination:\n            {second}\n          weight: 50\n"
    )
    report = check_tree(tmp_path, {"case.yaml": text})
    if not duplicate:
        assert report.findings == []
        return
    finding = only(report, "duplicate-route-destination")
    assert codes(report) == ["duplicate-route-destination"]
    assert finding.field == f"spec.{protocol}[0].route[1].destination"
    assert finding.line == line_of(text, "- destination:", 2)
    assert "already destination 0" in finding.message


# --------------------------------------------------------------------------- rule order


def rules(*matches: str) -> str:
    """http rules, each with the given ``match`` block ("" for none) and one destination."""
    out = "  http:\n"
    for index, match in enumerate(matches):
        out += f"    - name: r{index}\n"
        if match:
            out += "      match:\n" + match
        out += "      route:\n        - destination:\n            host: reviews\n"
    return out


def uri(kind: str, value: str, extra: str = "") -> str:
    return f"        - uri:\n            {kind}: {value}\n{extra}"


def header(name: str, kind: str, value: str) -> str:
    return f"        - headers:\n            {name}:\n              {kind}: {value}\n"


@pytest.mark.parametrize(
    "catch_all",
    [
        "",  # no match at all
        uri("prefix", "/"),
        uri("regex", '".*"'),
        uri("regex", '"/.*"'),
        "        - name: everything\n",  # a name does not narrow a match
    ],
)
def test_rules_after_a_catch_all_are_unreachable(tmp_path: Path, catch_all: str) -> None:
    text = mobile(rules(uri("prefix", "/a"), catch_all, uri("exact", "/b"), ""))
    report = check_tree(tmp_path, {"case.yaml": text})
    assert codes(report) == ["unreachable-rule", "unreachable-rule"]
    assert [f.field for f in report.findings] == ["spec.http[2]", "spec.http[3]"]
    assert [f.line for f in report.findings] == [
        line_of(text, "- name: r2"),
        line_of(text, "- name: r3"),
    ]
    assert all("rule 1 before it matches every request" in f.message for f in report.findings)


@pytest.mark.parametrize(
    "narrow",
    [
        uri("prefix", "/api"),
        uri("prefix", "/", "          ignoreUriCase: true\n"),
        uri("prefix", "/", "          method:\n            exact: GET\n"),
        header("x-user", "exact", "a"),
        "        - port: 8080\n",
    ],
)
def test_a_narrow_rule_does_not_hide_what_follows(tmp_path: Path, narrow: str) -> None:
    text = mobile(rules(narrow, uri("exact", "/b"), ""))
    assert check_tree(tmp_path, {"case.yaml": text}).findings == []


def test_rule_whose_every_match_repeats_earlier_ones(tmp_path: Path) -> None:
    text = mobile(
        rules(
            uri("prefix", "/a"),
            header("x-user", "exact", "b"),
            header("x-user", "exact", "b") + uri("exact", "/a/1"),
            "",
        )
    )
    report = check_tree(tmp_path, {"case.yaml": text})
    finding = only(report, "unreachable-rule")
    # as istioctl (IST0130 and IST0131): the match that repeats rule 1's exactly is reported
    # too; the one rule 0 only covers is not
    repeated = only(report, "ineffective-match")
    assert codes(report) == ["unreachable-rule", "ineffective-match"]
    assert repeated.field == "spec.http[2].match[0]"
    assert "repeats a match of rule 1" in repeated.message
    assert finding.field == "spec.http[2].match"
    assert finding.line == line_of(text, "match:", 3)
    assert "covered by an earlier rule (0, 1)" in finding.message


@pytest.mark.parametrize(
    ("earlier", "later", "covered"),
    [
        (uri("exact", "/a"), uri("exact", "/a"), True),
        (uri("prefix", "/api"), uri("exact", "/api/v1"), True),
        (uri("prefix", "/api"), uri("prefix", "/api/v2"), True),
        (uri("prefix", "/api"), uri("prefix", "/ap"), False),
        (uri("prefix", "/api"), uri("regex", "/api/.*"), False),
        (uri("exact", "/a"), uri("exact", "/a", "          ignoreUriCase: true\n"), False),
        (header("x-user", "exact", "a"), header("x-user", "exact", "a"), True),
        (header("x-user", "prefix", "a"), header("x-user", "exact", "ab"), True),
        (header("x-user", "exact", "a"), header("x-user", "exact", "b"), False),
        (header("x-user", "exact", "a"), header("x-team", "exact", "a"), False),
        # more conditions are narrower: the earlier match still takes all of its requests
        (
            header("x-user", "exact", "a"),
            header("x-user", "exact", "a") + "          method:\n            exact: GET\n",
            True,
        ),
        (
            header("x-user", "exact", "a") + "          method:\n            exact: GET\n",
            header("x-user", "exact", "a"),
            False,
        ),
        ("        - name: first\n          port: 8080\n", "        - port: 8080\n", True),
        ("        - port: 8080\n", "        - port: 9090\n", False),
    ],
)
def test_ineffective_match(tmp_path: Path, earlier: str, later: str, covered: bool) -> None:
    text = mobile(rules(earlier, uri("exact", "/only-in-r1") + later, ""))
    report = check_tree(tmp_path, {"case.yaml": text})
    if not covered:
        assert report.findings == []
        return
    finding = only(report, "ineffective-match")
    assert codes(report) == ["ineffective-match"]
    assert finding.severity == "info"
    assert finding.field == "spec.http[1].match[1]"
    assert finding.line == line_of(text, later.splitlines()[0], text.count(later.splitlines()[0]))
    assert "rule 0 already matches all of its requests" in finding.message


ROUTE = "      route:\n        - destination:\n            host: productpage\n"


@pytest.mark.parametrize(
    ("protocol", "first", "second", "expected"),
    [
        # istioctl's dupmatches cases: tcp and tls rules are first-match too
        (
            "tcp",
            "    - match:\n        - port: 9080\n",
            "    - match:\n        - port: 9080\n",
            "unreachable-rule",
        ),
        ("tcp", "    - route: []\n", "    - match:\n        - port: 9080\n", "unreachable-rule"),
        (
            "tcp",
            "    - match:\n        - port: 9080\n",
            "    - match:\n        - port: 9081\n",
            None,
        ),
        (
            "tls",
            "    - match:\n        - sniHosts: ['*.example.com']\n",
            "    - match:\n        - sniHosts: [a.example.com]\n",
            "unreachable-rule",
        ),
        (
            "tls",
            "    - match:\n        - sniHosts: [a.example.com]\n",
            "    - match:\n        - sniHosts: [a.example.com]\n          port: 443\n",
            "unreachable-rule",
        ),
        (
            "tls",
            "    - match:\n        - sniHosts: [a.example.com]\n          port: 443\n",
            "    - match:\n        - sniHosts: [a.example.com]\n",
            None,
        ),
    ],
)
def test_tcp_and_tls_rule_order(
    tmp_path: Path, protocol: str, first: str, second: str, expected: str | None
) -> None:
    first_rule = first if "route:" in first else first + ROUTE
    text = mobile(f"  {protocol}:\n" + first_rule + second + ROUTE)
    report = check_tree(tmp_path, {"mobile.yaml": text})
    if expected is None:
        assert report.findings == []
        return
    finding = only(report, expected)
    assert finding.field.startswith(f"spec.{protocol}[1]")
    assert f"{protocol} rule 1" in finding.message


def test_a_match_covered_by_another_of_the_same_rule(tmp_path: Path) -> None:
    """istioctl's overlapping-in-single-match: the second match of one rule never decides."""
    text = mobile(
        "  http:\n"
        "    - match:\n"
        "        - uri:\n"
        "            prefix: /api\n"
        "        - uri:\n"
        "            prefix: /api/v1\n" + ROUTE
    )
    report = check_tree(tmp_path, {"mobile.yaml": text})
    finding = only(report, "ineffective-match")
    assert finding.field == "spec.http[0].match[1]"
    assert finding.line == line_of(text, "prefix: /api/v1") - 1
    assert "match 0 of the same rule" in finding.message
