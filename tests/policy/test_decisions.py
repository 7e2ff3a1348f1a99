"""``to_findings``: what policies decide, turned into findings located through the input."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.codes import Severity
from reconciler.errors import PolicyError
from reconciler.policy.decisions import to_findings
from reconciler.policy.engines import DECISION_RULES, Results
from reconciler.policy.inputs import build_input
from reconciler.source.loading import Document

DOCUMENT = build_input(
    [
        Document(
            "mesh/routes.yaml",
            0,
            1,
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "VirtualService",
                "metadata": {"name": "reviews", "namespace": "shop"},
                "spec": {"hosts": ["reviews"]},
            },
        ),
        Document(
            "mesh/routes.yaml",
            1,
            14,
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "DestinationRule",
                "metadata": {"name": "reviews"},  # namespace from the default
                "spec": {"host": "reviews"},
            },
        ),
        Document(
            "mesh/ns.yaml",
            0,
            3,
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
        ),
    ],
    default_namespace="shop",
)


def results(package: str = "team.routes", **rules: list[Any]) -> Results:
    return {package: {rule: rules.get(rule, []) for rule in DECISION_RULES}}


def finding(**overrides: Any) -> dict[str, Any]:
    return {
        "code": "team-rule",
        "severity": "warning",
        "message": "a message",
        "resource": {"kind": "VirtualService", "namespace": "shop", "name": "reviews"},
        "field": "spec.hosts[0]",
        **overrides,
    }


def test_a_finding_is_located_through_the_index_and_the_source() -> None:
    [found] = to_findings(results(findings=[finding()]), DOCUMENT)
    assert found.model_dump(exclude_none=True) == {
        "code": "team-rule",
        "severity": Severity.WARNING,
        "message": "a message",
        "kind": "VirtualService",
        "namespace": "shop",
        "name": "reviews",
        "file": "mesh/routes.yaml",
        "line": 1,
        "field": "spec.hosts[0]",
        "source": "rego:team.routes",
    }


def test_the_default_namespace_and_cluster_scoped_kinds_are_found() -> None:
    decisions = [
        finding(resource={"kind": "DestinationRule", "namespace": "shop", "name": "reviews"}),
        finding(resource={"kind": "Namespace", "name": "shop"}, field=None),
        finding(resource={"kind": "Namespace", "namespace": "", "name": "shop"}, code="other"),
    ]
    found = to_findings(results(findings=decisions), DOCUMENT)
    assert [(f.file, f.line, f.field) for f in found] == [
        ("mesh/routes.yaml", 14, "spec.hosts[0]"),
        ("mesh/ns.yaml", 3, None),
        ("mesh/ns.yaml", 3, "spec.hosts[0]"),
    ]


@pytest.mark.parametrize(
    "resource",
    [
        {"kind": "VirtualService", "namespace": "shop", "name": "ghost"},
        {"kind": "VirtualService", "namespace": "other", "name": "reviews"},
        {"kind": "Gateway", "namespace": "shop", "name": "reviews"},
        {"kind": "VirtualService", "name": "reviews"},  # namespaced kind without a namespace
        {"kind": ["VirtualService"], "namespace": "shop", "name": "reviews"},  # unhashable
        {"kind": "VirtualService", "namespace": {"a": 1}, "name": "reviews"},
        {},
    ],
)
def test_an_unknown_resource_has_no_file(resource: dict[str, Any]) -> None:
    [found] = to_findings(results(findings=[finding(resource=resource)]), DOCUMENT)
    assert found.file is None and found.line is None
    assert found.name == (resource.get("name") if isinstance(resource.get("name"), str) else None)


def test_a_finding_without_a_resource_is_about_the_snapshot() -> None:
    decision = finding()
    del decision["resource"]
    [found] = to_findings(results(findings=[decision]), DOCUMENT)
    assert (found.kind, found.file, found.line) == (None, None, None)


def test_catalogue_codes_get_their_istio_and_kiali_codes() -> None:
    decisions = [
        finding(code="subset-not-found", severity="error"),
        finding(code="route-timeout-required"),
        finding(code="team-rule"),
    ]
    found = {f.code: f for f in to_findings(results(findings=decisions), DOCUMENT)}
    assert (found["subset-not-found"].istio_code, found["subset-not-found"].kiali_code) == (
        "IST0101",
        "KIA1107",
    )
    assert found["team-rule"].istio_code is None and found["team-rule"].kiali_code is None
    # The severity is the policy's, not the catalogue's.
    assert found["route-timeout-required"].severity == Severity.WARNING


@pytest.mark.parametrize(
    ("rule", "severity"),
    [("deny", Severity.ERROR), ("violation", Severity.ERROR), ("warn", Severity.WARNING)],
)
def test_conftest_style_rules_map_to_severities(rule: str, severity: Severity) -> None:
    located = {
        "msg": "with a resource",
        "resource": {"kind": "VirtualService", "namespace": "shop", "name": "reviews"},
    }
    found = to_findings(
        results("conftest.style", **{rule: ["plain text", located]}),
        DOCUMENT,
    )
    assert [(f.code, f.severity, f.message, f.file, f.source) for f in found] == [
        (rule, severity, "plain text", None, "rego:conftest.style"),
        (rule, severity, "with a resource", "mesh/routes.yaml", "rego:conftest.style"),
    ]


def test_every_package_and_rule_is_read() -> None:
    many: Results = {
        **results("a", findings=[finding()], deny=["d"]),
        **results("b.c", warn=["w"], violation=[{"msg": "v"}]),
    }
    found = to_findings(many, DOCUMENT)
    assert sorted((f.source, f.code) for f in found) == [
        ("rego:a", "deny"),
        ("rego:a", "team-rule"),
        ("rego:b.c", "violation"),
        ("rego:b.c", "warn"),
    ]


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        (finding(severity="fatal"), "finding 'team-rule' has severity 'fatal'"),
        (finding(severity="ERROR"), "use error, warning or info"),
        (finding(severity=None), "has severity None"),
        (finding(code=None), "a finding has no code"),
        (finding(code=""), "a finding has no code"),
        (finding(message=None), "finding 'team-rule' has no message"),
        (finding(resource="VirtualService/shop/reviews"), "resource must be an object"),
        ("just a string", "a finding must be an object"),
        (["a", "list"], "a finding must be an object"),
    ],
)
def test_a_malformed_finding_fails_closed(decision: Any, message: str) -> None:
    with pytest.raises(PolicyError, match=r"^team\.routes: ") as caught:
        to_findings(results(findings=[decision]), DOCUMENT)
    assert message in str(caught.value)


@pytest.mark.parametrize("entry", [42, None, True, {"message": "not msg"}, {"msg": 3}, ["x"]])
@pytest.mark.parametrize("rule", ["deny", "warn", "violation"])
def test_a_string_rule_entry_must_be_a_string_or_have_msg(entry: Any, rule: str) -> None:
    with pytest.raises(PolicyError, match=rf"team\.routes\.{rule}: entries must be strings"):
        to_findings(results(**{rule: [entry]}), DOCUMENT)


def test_no_decisions_no_findings() -> None:
    assert to_findings(results(), DOCUMENT) == []
    assert to_findings({}, DOCUMENT) == []
