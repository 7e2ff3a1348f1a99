"""Reports and contexts the writer tests share: every severity, every awkward character."""

from __future__ import annotations

from reconciler.codes import Severity
from reconciler.findings import Finding, Report, UncheckedObject
from reconciler.output import OutputContext

ROOT = "/repo"
BASE = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
HEAD = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233"

FINDINGS: list[Finding] = [
    Finding.of(
        "subset-not-found",
        'subset "v3" is not defined for host cart.shop.svc.cluster.local',
        kind="VirtualService",
        namespace="shop",
        name="cart",
        file="routes/cart.yaml",
        line=12,
        field="spec.http[0].route[0].destination.subset",
        new=True,
    ),
    Finding.of(
        "unreachable-rule",
        'rule 2 | match uri prefix "/api" & header <x-user> is shadowed by rule 1',
        kind="VirtualService",
        namespace="shop",
        name="cart",
        file="routes/cart.yaml",
        line=30,
        field="spec.http[1]",
        new=False,
    ),
    Finding.of(
        "ineffective-match",
        "match 2 repeats match 1",
        kind="VirtualService",
        namespace="shop",
        name="cart",
        file="routes/cart.yaml",
        new=False,
    ),
    Finding.of(
        "invalid-yaml",
        "mapping values are not allowed here\n  in line 3, column 7",
        file="broken.yaml",
        line=3,
        new=True,
    ),
    Finding.of(
        "no-tls-verification",
        "100% of traffic to host: payments.svc, port 443 uses SIMPLE TLS without caCertificates",
        kind="DestinationRule",
        namespace="payments",
        name="payments",
        file=f"{ROOT}/dest rules/payments.yaml",
        line=8,
        field="spec.trafficPolicy.tls",
        new=False,
    ),
    Finding.of(
        "conflicting-hosts",
        "host shop.example.com is declared by VirtualService shop/a and VirtualService shop/b",
        kind="VirtualService",
        namespace="shop",
        name="a",
        new=True,
    ),
    Finding(
        code="policy/no-wildcard-hosts",
        severity=Severity.INFO,
        message="host `*.example.com` is a wildcard; prefer exact hosts",
        kind="Gateway",
        namespace="istio-ingress",
        name="public",
        file="gateways/public.yaml",
        line=5,
        source="policy",
    ),
]


def mixed() -> Report:
    """Every severity, a finding without file, one without line, new True/False/None."""
    return Report.build(FINDINGS, checked_files=12, checked_resources=40)


def plain() -> Report:
    """The same findings from a run that compared nothing, so none is new or old."""
    return Report.build(
        (f.model_copy(update={"new": None}) for f in FINDINGS),
        checked_files=12,
        checked_resources=40,
    )


def empty() -> Report:
    """No findings, and objects of kinds meshrc reads but does not check."""
    return Report.build(
        [],
        checked_files=12,
        checked_resources=40,
        not_checked=[
            UncheckedObject(
                kind="AuthorizationPolicy",
                namespace="shop",
                name=name,
                file="authz.yaml",
                line=line,
            )
            for name, line in (("deny-all", 1), ("allow-frontend", 9), ("allow-mobile", 20))
        ]
        + [
            UncheckedObject(kind="ConfigMap", namespace="shop", name="cfg", file="cfg.yaml", line=1)
        ],
    )


def many_old() -> Report:
    """One new finding among more pre-existing ones than a PR comment shows unfolded."""
    old = [
        Finding.of(
            "subset-without-labels",
            f"subset v{i} has no labels",
            kind="DestinationRule",
            namespace="shop",
            name=f"svc-{i}",
            file=f"rules/svc-{i}.yaml",
            line=4,
            new=False,
        )
        for i in range(7)
    ]
    return Report.build([*old, FINDINGS[0]], checked_files=8, checked_resources=16)


PR = OutputContext(
    tool_version="9.9.9",
    base=BASE,
    head=HEAD,
    fail_on=Severity.WARNING,
    root=ROOT,
    extra_sections=["### Routing changes\n\nNo route changes."],
)
"""A pull request check: commits compared, failing on warnings, with an extra section."""

LOCAL = OutputContext(tool_version="9.9.9", root=ROOT)
"""A local run: nothing compared, failing on errors only."""
