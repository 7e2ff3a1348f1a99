"""The Rego policy pack (``policies/``) through the embedded engine (regorus).

* every module loads, every rule package decides ``findings`` with known codes and the
  catalogue's severities;
* each rule, positive and negative, on small fixture meshes, with exact findings;
* parity: on broken meshes, the pack's findings for the codes the Python checks also emit
  (subset-not-found, weights-not-100, weights-zero, gateway-not-found,
  gateway-host-mismatch) are exactly the Python checks' findings, by code, resource and
  field;
* the repository template gives no finding but missing route timeouts;
* garbage inputs (wrong types everywhere) never make the evaluation fail;
* with the pinned OPA binary (the ``opa_binary`` fixture of tests/conftest.py): ``opa test``,
  ``opa check --strict`` and ``opa fmt`` pass, and OPA decides exactly what regorus decides.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.checking import CheckOptions, check_files
from reconciler.codes import CODES
from reconciler.policy.bundle import builtin_folder, load_bundle
from reconciler.policy.inputs import build_input
from reconciler.source.loading import Document, directory_files, load_files

regorus = pytest.importorskip("regorus")

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "policies"
TEMPLATE = REPO / "repo-template" / "mesh"

SHARED_CODES = frozenset(
    {
        "subset-not-found",
        "weights-not-100",
        "weights-zero",
        "gateway-not-found",
        "gateway-host-mismatch",
    }
)
"""The codes both the Python checks and the pack emit, with the same semantics."""

_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)

Key = tuple[str, str, str, str, str]
"""(code, kind, namespace, name, field): what parity compares."""


# --------------------------------------------------------------------------- the pack


def pack_modules() -> dict[str, str]:
    """The modules meshrc loads: every ``*.rego`` of ``policies/`` but the unit tests."""
    return {
        path.relative_to(POLICIES).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(POLICIES.rglob("*.rego"))
        if not path.name.endswith("_test.rego")
    }


def rule_packages() -> list[str]:
    """The packages that decide: every package of the pack but the helper libraries."""
    found = {m.group(1) for text in pack_modules().values() for m in _PACKAGE.finditer(text)}
    return sorted(p for p in found if not p.startswith("meshrc.lib."))


def _query_module(packages: list[str]) -> str:
    entries = ",\n".join(f'\t"{p}": [x | some x in data.{p}.findings]' for p in packages)
    return f"package pack_test\n\nresults := {{\n{entries},\n}}\n"


def evaluate(
    document: dict[str, Any], params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every finding of the pack for ``document``, through regorus, in one evaluation."""
    engine = regorus.Engine()
    for path, text in pack_modules().items():
        engine.add_policy(path, text)
    engine.add_policy("pack_test.rego", _query_module(rule_packages()))
    if params is not None:
        engine.add_data({"meshrc": {"params": dict(params)}})
    engine.set_input_json(json.dumps(document))
    try:
        results = json.loads(engine.eval_rule_as_json("data.pack_test.results"))
    except RuntimeError as exc:  # keep regorus' message, drop its Rust backtrace
        raise AssertionError(str(exc).split("Stack backtrace:")[0].strip()) from None
    return [finding for package in sorted(results) for finding in results[package]]


def key(finding: dict[str, Any]) -> Key:
    resource = finding["resource"]
    return (
        finding["code"],
        resource["kind"],
        resource["namespace"],
        resource["name"],
        finding["field"],
    )


def keys(findings: Iterable[dict[str, Any]], codes: Iterable[str] | None = None) -> set[Key]:
    wanted = None if codes is None else set(codes)
    return {key(f) for f in findings if wanted is None or f["code"] in wanted}


# --------------------------------------------------------------------------- fixtures


def write_tree(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def input_of(root: Path) -> dict[str, Any]:
    loaded = load_files(directory_files(root), None)
    return build_input(loaded.documents)


def pack_keys(root: Path, codes: Iterable[str] | None = None) -> set[Key]:
    return keys(evaluate(input_of(root)), codes)


def python_keys(root: Path, codes: Iterable[str] = SHARED_CODES) -> set[Key]:
    report = check_files(directory_files(root), CheckOptions(cache_dir=None))
    return {
        (f.code, f.kind or "", f.namespace or "", f.name or "", f.field or "")
        for f in report.findings
        if f.code in set(codes)
    }


def vs(name: str, namespace: str, spec: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        f"metadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n{_indent(spec)}"
    )


def dr(name: str, namespace: str, spec: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        f"metadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n{_indent(spec)}"
    )


def service(name: str, namespace: str, annotations: str = "") -> str:
    meta = f"metadata:\n  name: {name}\n  namespace: {namespace}\n"
    if annotations:
        meta += f"  annotations:\n{_indent(annotations, 4)}"
    return (
        f"apiVersion: v1\nkind: Service\n{meta}"
        f"spec:\n  selector:\n    app: {name}\n  ports:\n    - name: http\n      port: 9080\n"
    )


def istio_gateway(name: str, namespace: str, hosts: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
        f"metadata:\n  name: {name}\n  namespace: {namespace}\n"
        "spec:\n  selector: {istio: ingressgateway}\n  servers:\n"
        f"    - port: {{number: 80, name: http, protocol: HTTP}}\n      hosts: {hosts}\n"
    )


def k8s_gateway(name: str, namespace: str, listeners: str, version: str = "v1") -> str:
    """A Gateway of the Kubernetes Gateway API; ``listeners`` are list items, indented."""
    return (
        f"apiVersion: gateway.networking.k8s.io/{version}\nkind: Gateway\n"
        f"metadata:\n  name: {name}\n  namespace: {namespace}\n"
        "spec:\n  gatewayClassName: istio\n"
        + (f"  listeners:\n{listeners}" if listeners else "  listeners: []\n")
    )


def _indent(text: str, width: int = 2) -> str:
    pad = " " * width
    return "".join(pad + line + "\n" if line.strip() else "\n" for line in text.splitlines())


def docs(*parts: str) -> str:
    return "---\n".join(parts)


# A clean base: Services and DestinationRules in shop (short and FQDN DR hosts), a mesh
# VirtualService with a canary split, an ingress Gateway in istio-system with a bound
# VirtualService, and an external ServiceEntry. Neither the Python checks nor the pack
# report any of the shared codes on it.
BASE: dict[str, str] = {
    "shop/reviews.yaml": docs(
        service("reviews", "shop"),
        dr(
            "reviews",
            "shop",
            "host: reviews\nsubsets:\n  - name: v1\n    labels: {version: v1}\n"
            "  - name: v2\n    labels: {version: v2}\n",
        ),
        vs(
            "reviews",
            "shop",
            "hosts: [reviews]\nhttp:\n  - route:\n"
            "      - destination: {host: reviews, subset: v1}\n        weight: 80\n"
            "      - destination: {host: reviews, subset: v2}\n        weight: 20\n"
            "    timeout: 5s\n",
        ),
    ),
    "shop/ratings.yaml": docs(
        service("ratings", "shop"),
        dr(
            "ratings",
            "shop",
            "host: ratings.shop.svc.cluster.local\nsubsets:\n"
            "  - name: v1\n    labels: {version: v1}\n",
        ),
    ),
    "web/frontend.yaml": docs(
        service("frontend", "web"),
        vs(
            "frontend",
            "web",
            "hosts: [shop.example.com]\ngateways: [istio-system/public]\nhttp:\n"
            "  - route:\n      - destination:\n          host: frontend\n    timeout: 5s\n",
        ),
    ),
    "istio-system/gateway.yaml": (
        "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
        "metadata:\n  name: public\n  namespace: istio-system\n"
        "spec:\n  selector: {istio: ingressgateway}\n  servers:\n"
        "    - port: {number: 80, name: http, protocol: HTTP}\n"
        '      hosts: ["*.example.com", "web/admin.example.net"]\n'
    ),
    "shop/external.yaml": (
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
        "metadata:\n  name: external\n  namespace: shop\n"
        "spec:\n  hosts: [api.example.org]\n  location: MESH_EXTERNAL\n  resolution: DNS\n"
        "  ports:\n    - {number: 443, name: https, protocol: HTTPS}\n"
    ),
}


def mesh(root: Path, extra: Mapping[str, str] | None = None, base: bool = True) -> Path:
    write_tree(root, {**(BASE if base else {}), **(extra or {})})
    return root


# --------------------------------------------------------------------------- the modules


def test_every_rule_package_decides_findings_with_catalogue_codes(tmp_path: Path) -> None:
    packages = rule_packages()
    assert {
        "meshrc.routing.subsets",
        "meshrc.routing.weights",
        "meshrc.routing.gateways",
        "meshrc.routing.gateway_hosts",
        "meshrc.guardrails.timeouts",
        "meshrc.guardrails.retries",
        "meshrc.guardrails.faults",
        "meshrc.guardrails.wildcard_hosts",
        "meshrc.guardrails.tls",
    } <= set(packages)
    engine = regorus.Engine()
    for path, text in pack_modules().items():
        engine.add_policy(path, text)
    engine.set_input(build_input([]))
    for package in packages:
        assert json.loads(engine.eval_rule_as_json(f"data.{package}.findings")) == []
    severities = json.loads(engine.eval_rule_as_json("data.meshrc.lib.resources.severities"))
    for code, severity in severities.items():
        assert code in CODES, code
        assert CODES[code].severity == severity, code


def test_findings_are_well_formed(tmp_path: Path) -> None:
    findings = evaluate(input_of(mesh(tmp_path, BROKEN_EVERYTHING)))
    assert findings
    for finding in findings:
        assert set(finding) == {"code", "severity", "message", "resource", "field"}
        assert CODES[finding["code"]].severity == finding["severity"]
        assert set(finding["resource"]) == {"kind", "namespace", "name"}
        assert re.fullmatch(r"spec(\.[A-Za-z]+(\[\d+\])*)+", finding["field"]), finding
        assert finding["message"] and isinstance(finding["message"], str)


def test_the_base_mesh_is_clean(tmp_path: Path) -> None:
    root = mesh(tmp_path)
    assert pack_keys(root) == set()
    assert python_keys(root) == set()


def test_repository_template_has_no_finding_but_missing_timeouts() -> None:
    """The template may at most lack route timeouts (the committed template has none on
    ratings' two http rules; the working tree sets them)."""
    findings = evaluate(input_of(TEMPLATE))
    assert {f["code"] for f in findings} <= {"route-timeout-required"}
    assert keys(findings) <= {
        ("route-timeout-required", "VirtualService", "bookinfo", "ratings", "spec.http[0]"),
        ("route-timeout-required", "VirtualService", "bookinfo", "ratings", "spec.http[1]"),
    }


# --------------------------------------------------------------------------- parity


def _route(host: str, subset: str | None = None, weight: int | None = None) -> str:
    dest = f"host: {host}" + (f", subset: {subset}" if subset else "")
    return f"      - destination: {{{dest}}}\n" + (
        f"        weight: {weight}\n" if weight is not None else ""
    )


PARITY_CASES: dict[str, dict[str, str]] = {
    "subset typo, short host": {
        "shop/typo.yaml": vs(
            "typo", "shop", "hosts: [typo]\nhttp:\n  - route:\n" + _route("reviews", "v3")
        ),
    },
    "subset typo, FQDN host from another namespace": {
        "web/typo.yaml": vs(
            "typo",
            "web",
            "hosts: [typo]\nhttp:\n  - route:\n"
            + _route("reviews.shop.svc.cluster.local", "v1", 50)
            + _route("reviews.shop.svc.cluster.local", "v9", 50),
        ),
    },
    "FQDN DR host, short destination, missing subset": {
        "shop/typo.yaml": vs(
            "typo", "shop", "hosts: [typo]\nhttp:\n  - route:\n" + _route("ratings", "v2")
        ),
    },
    "hosts no Service provides: host-not-found (Python) and subset-not-found": {
        "web/names.yaml": vs(
            "names",
            "web",
            "hosts: [names]\nhttp:\n  - route:\n"
            + _route("reviews.shop", "nope", 50)
            + _route("reviews", "nope", 50),
        ),
    },
    "subset used with no DestinationRule at all": {
        "shop/details.yaml": docs(
            service("details", "shop"),
            vs(
                "details", "shop", "hosts: [details]\nhttp:\n  - route:\n" + _route("details", "v1")
            ),
        ),
    },
    "wildcard DestinationRule host, most specific wins": {
        "shop/details.yaml": docs(
            service("details", "shop"),
            dr(
                "shop-wide",
                "shop",
                'host: "*.shop.svc.cluster.local"\nsubsets:\n  - name: v1\n    labels: {v: "1"}\n',
            ),
            dr(
                "mesh-wide",
                "istio-system",
                'host: "*.svc.cluster.local"\nsubsets:\n  - name: v2\n    labels: {v: "2"}\n',
            ),
            vs(
                "details",
                "shop",
                "hosts: [details]\nhttp:\n  - route:\n"
                + _route("details", "v1", 50)
                + _route("details", "v2", 50),
            ),
        ),
    },
    "exportTo hides a DestinationRule from other namespaces": {
        "shop/payments.yaml": docs(
            service("payments", "shop"),
            dr(
                "payments",
                "shop",
                'host: payments\nexportTo: ["."]\nsubsets:\n  - name: v1\n    labels: {v: "1"}\n',
            ),
            vs(
                "payments",
                "shop",
                "hosts: [payments]\nhttp:\n  - route:\n" + _route("payments", "v1"),
            ),
        ),
        "web/payments.yaml": vs(
            "payments-client",
            "web",
            "hosts: [payments-client]\nhttp:\n  - route:\n"
            + _route("payments.shop.svc.cluster.local", "v1"),
        ),
    },
    "exportTo to a namespace list, and a hidden exact rule falls back to a wildcard": {
        "shop/orders.yaml": docs(
            service("orders", "shop"),
            dr(
                "orders",
                "shop",
                'host: orders\nexportTo: [".", "web"]\nsubsets:\n  - name: v1\n'
                '    labels: {v: "1"}\n',
            ),
            dr(
                "orders-any",
                "istio-system",
                'host: "*.shop.svc.cluster.local"\nsubsets:\n  - name: v7\n    labels: {v: "7"}\n',
            ),
        ),
        "web/orders.yaml": vs(
            "orders-web",
            "web",
            "hosts: [orders-web]\nhttp:\n  - route:\n"
            + _route("orders.shop.svc.cluster.local", "v1"),
        ),
        "mobile/orders.yaml": vs(
            "orders-mobile",
            "mobile",
            "hosts: [orders-mobile]\nhttp:\n  - route:\n"
            + _route("orders.shop.svc.cluster.local", "v1", 50)
            + _route("orders.shop.svc.cluster.local", "v7", 50),
        ),
    },
    "Service exported by annotation only to its namespace": {
        "shop/private.yaml": docs(
            service("private", "shop", 'networking.istio.io/exportTo: "."'),
            dr("private", "shop", "host: private\nsubsets:\n  - name: v1\n    labels: {v: '1'}\n"),
        ),
        "web/private.yaml": vs(
            "private-client",
            "web",
            "hosts: [private-client]\nhttp:\n  - route:\n"
            + _route("private.shop.svc.cluster.local", "v2"),
        ),
    },
    "ServiceEntry hosts, exact and wildcard": {
        "shop/entries.yaml": docs(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
            "metadata:\n  name: wild\n  namespace: shop\n"
            'spec:\n  hosts: ["*.partner.io"]\n  location: MESH_EXTERNAL\n  resolution: NONE\n'
            "  ports:\n    - {number: 443, name: https, protocol: HTTPS}\n",
            dr(
                "api",
                "shop",
                "host: api.example.org\nsubsets:\n  - name: blue\n    labels: {c: b}\n",
            ),
            vs(
                "outbound",
                "shop",
                "hosts: [outbound]\nhttp:\n  - route:\n"
                + _route("api.example.org", "green", 50)
                + _route("api.example.org", "blue", 50)
                + "  - route:\n"
                + _route("eu.partner.io", "v1"),
            ),
        ),
    },
    "mirror, mirrors, tls and tcp routes": {
        "shop/mirrors.yaml": vs(
            "mirrors",
            "shop",
            "hosts: [mirrors]\nhttp:\n  - route:\n"
            + _route("reviews", "v1")
            + "    mirror: {host: reviews, subset: v8}\n"
            "    mirrors:\n      - destination: {host: ratings, subset: v1}\n"
            "      - destination: {host: ratings, subset: v5}\n"
            "tcp:\n  - route:\n" + _route("ratings", "v4") + "tls:\n"
            "  - match:\n      - sniHosts: [mirrors]\n    route:\n" + _route("ratings", "v6"),
        ),
    },
    "weights": {
        "shop/weights.yaml": vs(
            "weights",
            "shop",
            "hosts: [weights]\nhttp:\n"
            "  - route:\n"
            + _route("reviews", "v1", 50)
            + _route("reviews", "v2", 40)
            + "  - route:\n"
            + _route("reviews", "v1", 0)
            + _route("reviews", "v2")
            + "  - route:\n"
            + _route("reviews", "v1", 100)
            + _route("reviews", "v2")
            + "  - route:\n"
            + _route("reviews", "v1", 30)
            + _route("reviews", "v2", 30)
            + _route("ratings", "v1", 30)
            + "  - route:\n"
            + _route("reviews", "v1", 60)
            + "tcp:\n  - route:\n"
            + _route("ratings", "v1", 10)
            + _route("reviews", "v1", 10),
        ),
    },
    "gateway references": {
        "web/refs.yaml": vs(
            "refs",
            "web",
            "hosts: [a.example.com]\n"
            "gateways: [mesh, missing, istio-system/public, istio-system/nope, ./nope,"
            " public.istio-system, nope.istio-system.svc.cluster.local]\n"
            "http:\n  - match:\n      - gateways: [mesh, other/gw]\n    route:\n"
            + _route("frontend")
            + "tcp:\n  - match:\n      - gateways: [istio-system/public, tcp-gw]\n    route:\n"
            + _route("frontend"),
        ),
    },
    "Gateway API Gateways: bound to, listener hostnames, served versions only": {
        "istio-system/api-gateway.yaml": docs(
            k8s_gateway("api", "istio-system", "    - {name: http, port: 80, protocol: HTTP}\n"),
            k8s_gateway(
                "named",
                "istio-system",
                '    - {name: a, port: 80, protocol: HTTP, hostname: "*.api.example.com"}\n'
                "    - {name: b, port: 80, protocol: HTTP, hostname: api.example.org}\n",
                version="v1beta1",
            ),
            k8s_gateway("bare", "istio-system", ""),
            k8s_gateway("old", "istio-system", "    - {name: http}\n", version="v1alpha2"),
        ),
        "web/api.yaml": docs(
            vs(
                "api",
                "web",
                "hosts: [api.example.com]\ngateways: [istio-system/api, istio-system/public]\n"
                "http:\n  - route:\n" + _route("frontend"),
            ),
            vs(
                "named",
                "web",
                "hosts: [x.api.example.com, api.example.org, other.example.org]\n"
                "gateways: [istio-system/named]\nhttp:\n  - route:\n" + _route("frontend"),
            ),
            vs(
                "named-none",
                "web",
                "hosts: [nothing.example.net]\ngateways: [istio-system/named, istio-system/bare]\n"
                "http:\n  - route:\n" + _route("frontend"),
            ),
            vs(
                "old",
                "web",
                "hosts: [old.example.com]\ngateways: [istio-system/old]\n"
                "http:\n  - route:\n" + _route("frontend"),
            ),
        ),
    },
    "an Istio Gateway and a Gateway API Gateway of one name: Istio's counts": {
        "istio-system/shared.yaml": docs(
            k8s_gateway(
                "shared",
                "istio-system",
                "    - {name: http, port: 80, protocol: HTTP, hostname: k8s.example.com}\n",
            ),
            istio_gateway("shared", "istio-system", '["istio.example.com"]'),
        ),
        "web/shared.yaml": vs(
            "shared",
            "web",
            "hosts: [istio.example.com, k8s.example.com]\ngateways: [istio-system/shared]\n"
            "http:\n  - route:\n" + _route("frontend"),
        ),
    },
    "references to istiod's internal gateways are left to internal-gateway-reference": {
        "web/internal.yaml": vs(
            "internal",
            "web",
            "hosts: [a.example.com]\n"
            "gateways: [istio-system/api~istio-autogenerated-k8s-gateway~http,"
            " x~istio-autogenerated-k8s-gateway~y/nope]\n"
            "http:\n  - match:\n      - gateways: [web~istio-autogenerated-k8s-gateway~a]\n"
            "    route:\n" + _route("frontend"),
        ),
    },
    "several gateways: a gateway that admits no host, a host no gateway admits, the mesh": {
        "istio-system/closed.yaml": istio_gateway(
            "closed", "istio-system", '["closed.example.io"]'
        ),
        "web/multi.yaml": docs(
            vs(
                "with-mesh",
                "web",
                "hosts: [a.example.com, b.example.org]\n"
                "gateways: [istio-system/public, mesh, istio-system/closed]\n"
                "http:\n  - route:\n" + _route("frontend"),
            ),
            vs(
                "split",
                "web",
                "hosts: [a.example.com, closed.example.io, b.example.org, '*.example.com']\n"
                "gateways: [istio-system/public, istio-system/closed, istio-system/gone]\n"
                "http:\n  - route:\n" + _route("frontend"),
            ),
            vs(
                "none",
                "web",
                "hosts: [b.example.org, c.example.org]\n"
                "gateways: [istio-system/public, istio-system/closed]\n"
                "http:\n  - route:\n" + _route("frontend"),
            ),
            vs(
                "no-hosts",
                "web",
                "hosts: []\ngateways: [istio-system/closed]\nhttp:\n  - route:\n"
                + _route("frontend"),
            ),
        ),
    },
    "wildcards that are not '*' nor start with '*.' match as written": {
        "istio-system/odd.yaml": istio_gateway("odd", "istio-system", '["*ample.com"]'),
        "web/odd.yaml": docs(
            vs(
                "odd-gateway",
                "web",
                "hosts: [example.com, a.example.com, example.org]\n"
                "gateways: [istio-system/odd]\nhttp:\n  - route:\n" + _route("frontend"),
            ),
            vs(
                "odd-hosts",
                "web",
                "hosts: ['*ample.com', '*ample.org']\n"
                "gateways: [istio-system/public]\nhttp:\n  - route:\n" + _route("frontend"),
            ),
        ),
    },
    "a VirtualService exported to other namespaces resolves subsets from each": {
        "web/reviews-rule.yaml": dr(
            "reviews-web",
            "web",
            "host: reviews.shop.svc.cluster.local\nexportTo: ['.']\nsubsets:\n"
            "  - name: w\n    labels: {version: w}\n",
        ),
        "shop/exported.yaml": docs(
            *(
                vs(
                    name,
                    "shop",
                    f"hosts: [{name}]\nexportTo: {export_to}\nhttp:\n  - route:\n"
                    + _route("reviews", subset),
                )
                for name, export_to, subset in (
                    ("to-web", "[web]", "w"),
                    ("to-others", "[web, mobile]", "w"),
                    ("to-own", "[shop, web]", "w"),
                    ("to-dot", "['.', web]", "w"),
                    ("to-all", "['*']", "v1"),
                    ("to-nobody", "['~']", "v9"),
                )
            )
        ),
    },
    "gateway hosts": {
        "web/hosts.yaml": vs(
            "hosts",
            "web",
            'hosts: [shop.example.com, shop.example.org, "*.example.com", "*", admin.example.net,'
            " short]\ngateways: [istio-system/public]\nhttp:\n  - route:\n" + _route("frontend"),
        ),
        "shop/hosts.yaml": vs(
            "hosts",
            "shop",
            "hosts: [admin.example.net, x.example.com]\n"
            "gateways: [istio-system/public, istio-system/scoped]\n"
            "http:\n  - route:\n" + _route("reviews", "v1"),
        ),
        "istio-system/scoped.yaml": (
            "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
            "metadata:\n  name: scoped\n  namespace: istio-system\n"
            "spec:\n  selector: {istio: ingressgateway}\n  servers:\n"
            "    - port: {number: 80, name: http, protocol: HTTP}\n"
            '      hosts: ["./x.example.com", "*/admin.example.net", "shop/*.example.com"]\n'
            "    - port: {number: 443, name: https, protocol: HTTPS}\n"
            '      hosts: ["istio-system/internal.example.com"]\n'
            "      tls: {mode: SIMPLE, credentialName: cert}\n"
        ),
        "istio-system/empty.yaml": (
            "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
            "metadata:\n  name: empty\n  namespace: istio-system\n"
            "spec:\n  selector: {istio: ingressgateway}\n"
        ),
        "web/empty.yaml": vs(
            "empty-gw",
            "web",
            "hosts: [e.example.com]\ngateways: [istio-system/empty]\nhttp:\n  - route:\n"
            + _route("frontend"),
        ),
    },
    "a VirtualService that fails validation outside what the pack checks": {
        "web/invalid.yaml": vs(
            "invalid",
            "web",
            "hosts: [shop.example.com, shop.example.org]\ngateways: [istio-system/public, gone]\n"
            "bogus: 1\nhttp:\n  - route:\n"
            + _route("reviews.shop.svc.cluster.local", "v9")
            + "  - route:\n"
            + _route("frontend")
            + "    bogus: 2\n",
        ),
    },
    "default namespace": {
        "default.yaml": docs(
            service("plain", "default").replace("  namespace: default\n", ""),
            vs(
                "plain",
                "default",
                "hosts: [plain]\nhttp:\n  - route:\n" + _route("plain", "v1"),
            ).replace("  namespace: default\n", ""),
        ),
    },
}

# Expected findings of the shared codes, so that parity cannot pass by both sides being
# empty: at least these (Python and the pack must agree on the whole set anyway).
PARITY_EXPECTED: dict[str, set[Key]] = {
    "subset typo, short host": {
        (
            "subset-not-found",
            "VirtualService",
            "shop",
            "typo",
            "spec.http[0].route[0].destination.subset",
        )
    },
    "subset typo, FQDN host from another namespace": {
        (
            "subset-not-found",
            "VirtualService",
            "web",
            "typo",
            "spec.http[0].route[1].destination.subset",
        )
    },
    "hosts no Service provides: host-not-found (Python) and subset-not-found": {
        (
            "subset-not-found",
            "VirtualService",
            "web",
            "names",
            f"spec.http[0].route[{i}].destination.subset",
        )
        for i in (0, 1)
    },
    "wildcard DestinationRule host, most specific wins": {
        (
            "subset-not-found",
            "VirtualService",
            "shop",
            "details",
            "spec.http[0].route[1].destination.subset",
        )
    },
    "exportTo hides a DestinationRule from other namespaces": {
        (
            "subset-not-found",
            "VirtualService",
            "web",
            "payments-client",
            "spec.http[0].route[0].destination.subset",
        )
    },
    "exportTo to a namespace list, and a hidden exact rule falls back to a wildcard": {
        (
            "subset-not-found",
            "VirtualService",
            "mobile",
            "orders-mobile",
            "spec.http[0].route[0].destination.subset",
        )
    },
    "mirror, mirrors, tls and tcp routes": {
        ("subset-not-found", "VirtualService", "shop", "mirrors", field)
        for field in (
            "spec.http[0].mirror.subset",
            "spec.http[0].mirrors[1].destination.subset",
            "spec.tcp[0].route[0].destination.subset",
            "spec.tls[0].route[0].destination.subset",
        )
    },
    "weights": {
        ("weights-not-100", "VirtualService", "shop", "weights", "spec.http[0].route"),
        ("weights-zero", "VirtualService", "shop", "weights", "spec.http[1].route"),
        ("weights-not-100", "VirtualService", "shop", "weights", "spec.http[3].route"),
        ("weights-not-100", "VirtualService", "shop", "weights", "spec.tcp[0].route"),
    },
    "gateway references": {
        ("gateway-not-found", "VirtualService", "web", "refs", field)
        for field in (
            "spec.gateways[1]",
            "spec.gateways[3]",
            "spec.gateways[4]",
            "spec.gateways[6]",
            "spec.http[0].match[0].gateways[1]",
            "spec.tcp[0].match[0].gateways[1]",
        )
    },
    "Gateway API Gateways: bound to, listener hostnames, served versions only": {
        ("gateway-host-mismatch", "VirtualService", "web", "named", "spec.hosts[2]"),
        ("gateway-host-mismatch", "VirtualService", "web", "named-none", "spec.gateways[0]"),
        ("gateway-host-mismatch", "VirtualService", "web", "named-none", "spec.gateways[1]"),
        ("gateway-not-found", "VirtualService", "web", "old", "spec.gateways[0]"),
    },
    "an Istio Gateway and a Gateway API Gateway of one name: Istio's counts": {
        ("gateway-host-mismatch", "VirtualService", "web", "shared", "spec.hosts[1]"),
    },
    "references to istiod's internal gateways are left to internal-gateway-reference": {
        ("gateway-not-found", "VirtualService", "web", "internal", "spec.gateways[1]"),
    },
    "several gateways: a gateway that admits no host, a host no gateway admits, the mesh": {
        ("gateway-host-mismatch", "VirtualService", "web", "with-mesh", "spec.gateways[2]"),
        ("gateway-host-mismatch", "VirtualService", "web", "split", "spec.hosts[2]"),
        ("gateway-not-found", "VirtualService", "web", "split", "spec.gateways[2]"),
        ("gateway-host-mismatch", "VirtualService", "web", "none", "spec.gateways[0]"),
        ("gateway-host-mismatch", "VirtualService", "web", "none", "spec.gateways[1]"),
    },
    "wildcards that are not '*' nor start with '*.' match as written": {
        ("gateway-host-mismatch", "VirtualService", "web", "odd-gateway", "spec.hosts[2]"),
        ("gateway-host-mismatch", "VirtualService", "web", "odd-hosts", "spec.hosts[1]"),
    },
    "a VirtualService exported to other namespaces resolves subsets from each": {
        (
            "subset-not-found",
            "VirtualService",
            "shop",
            name,
            "spec.http[0].route[0].destination.subset",
        )
        for name in ("to-others", "to-own", "to-dot")
    },
    "a VirtualService that fails validation outside what the pack checks": {
        ("gateway-host-mismatch", "VirtualService", "web", "invalid", "spec.hosts[1]"),
        ("gateway-not-found", "VirtualService", "web", "invalid", "spec.gateways[1]"),
        (
            "subset-not-found",
            "VirtualService",
            "web",
            "invalid",
            "spec.http[0].route[0].destination.subset",
        ),
    },
    "gateway hosts": {
        ("gateway-host-mismatch", "VirtualService", "web", "hosts", "spec.hosts[1]"),
        ("gateway-host-mismatch", "VirtualService", "web", "hosts", "spec.hosts[5]"),
        ("gateway-host-mismatch", "VirtualService", "web", "empty-gw", "spec.gateways[0]"),
    },
}


@pytest.mark.parametrize("case", sorted(PARITY_CASES))
def test_parity_with_the_python_checks(tmp_path: Path, case: str) -> None:
    root = mesh(tmp_path, PARITY_CASES[case])
    python = python_keys(root)
    pack = pack_keys(root, SHARED_CODES)
    assert pack == python, f"pack only: {pack - python}; python only: {python - pack}"
    if case in PARITY_EXPECTED:
        assert PARITY_EXPECTED[case] <= pack, PARITY_EXPECTED[case] - pack


BROKEN_EVERYTHING: dict[str, str] = {
    name: text for case in PARITY_CASES.values() for name, text in case.items()
}


def test_parity_on_everything_broken_at_once(tmp_path: Path) -> None:
    write_tree(tmp_path, BASE)
    for index, (name, text) in enumerate(BROKEN_EVERYTHING.items()):
        write_tree(tmp_path, {f"all/{index}-{name.replace('/', '-')}": text})
    assert pack_keys(tmp_path, SHARED_CODES) == python_keys(tmp_path)


def test_an_invalid_part_of_a_virtual_service_is_checked_by_the_pack_only(tmp_path: Path) -> None:
    """On a VirtualService that fails validation, the Python checks check references of its
    valid parts and no weights; the pack reads the raw object and checks all it can read.
    They agree on the valid parts (above); the pack reports more on the invalid parts, next
    to their schema errors."""
    files = {
        "shop/invalid.yaml": vs(
            "invalid",
            "shop",
            "hosts: [invalid]\nhttp:\n  - route:\n"
            + _route("reviews", "v1", 50)
            + _route("reviews", "v2", 40)
            + "  - route:\n"
            + _route("reviews", "v9")
            + "    bogus: 1\n",
        ),
    }
    root = mesh(tmp_path, files)
    python = python_keys(root)
    pack = pack_keys(root, SHARED_CODES)
    at = ("VirtualService", "shop", "invalid")
    assert python == set()
    assert pack == {
        ("weights-not-100", *at, "spec.http[0].route"),
        ("subset-not-found", *at, "spec.http[1].route[0].destination.subset"),
    }


def test_parity_after_an_invalid_list_item(tmp_path: Path) -> None:
    """A salvaged VirtualService names the items of the document, not of its shortened lists:
    the rule after the invalid one is still spec.http[1]."""
    files = {
        "shop/shifted.yaml": vs(
            "shifted",
            "shop",
            "hosts: [shifted]\nhttp:\n  - route:\n"
            + _route("reviews", "v1")
            + "    bogus: 1\n  - route:\n"
            + _route("reviews", "v9"),
        ),
    }
    root = mesh(tmp_path, files)
    assert pack_keys(root, SHARED_CODES) == python_keys(root)


WORKLOADS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1, namespace: shop}
spec:
  template:
    metadata:
      labels: {app: reviews, version: v1}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {mode: fast}
"""


def test_the_declared_kinds_are_all_the_pack_reads(tmp_path: Path) -> None:
    """The pack declares the kinds it reads, so the input leaves the others out: a kind it
    reads but did not declare would lose findings here."""
    mesh(tmp_path, {f"all/{i}.yaml": text for i, text in enumerate(BROKEN_EVERYTHING.values())})
    write_tree(tmp_path, {"workloads.yaml": WORKLOADS})
    documents = load_files(directory_files(tmp_path), None).documents
    kinds = load_bundle([builtin_folder()]).input_kinds
    assert kinds is not None
    assert kinds == {"VirtualService", "DestinationRule", "Gateway"}
    narrow = build_input(documents, kinds=kinds)
    assert {r["kind"] for r in narrow["resources"]} < {
        r["kind"] for r in input_of(tmp_path)["resources"]
    }
    assert "gateway.networking.k8s.io/v1" in {r["apiVersion"] for r in narrow["resources"]}
    found = evaluate(narrow)
    assert found and keys(found) == keys(evaluate(input_of(tmp_path)))


# --------------------------------------------------------------------------- messages


def _messages(root: Path) -> dict[Key, str]:
    return {key(f): f["message"] for f in evaluate(input_of(root))}


def test_messages_name_the_thing(tmp_path: Path) -> None:
    root = mesh(
        tmp_path,
        {
            **PARITY_CASES["subset typo, short host"],
            **PARITY_CASES["subset used with no DestinationRule at all"],
            **PARITY_CASES["weights"],
            **PARITY_CASES["gateway references"],
        },
    )
    messages = _messages(root)
    vs_key = ("VirtualService", "shop")
    assert messages[
        ("subset-not-found", *vs_key, "typo", "spec.http[0].route[0].destination.subset")
    ] == (
        "subset 'v3' is not defined for reviews.shop.svc.cluster.local "
        "(DestinationRule shop/reviews defines: v1, v2)"
    )
    assert messages[
        ("subset-not-found", *vs_key, "details", "spec.http[0].route[0].destination.subset")
    ] == (
        "subset 'v1' of details.shop.svc.cluster.local is used, but no DestinationRule "
        "defines subsets for it"
    )
    assert messages[("weights-not-100", *vs_key, "weights", "spec.http[0].route")] == (
        "weights add up to 90 (50 + 40), not 100"
    )
    assert messages[("weights-zero", *vs_key, "weights", "spec.http[1].route")] == (
        "the 2 destinations have a total weight of 0: no traffic can be routed"
    )
    assert messages[("gateway-not-found", "VirtualService", "web", "refs", "spec.gateways[1]")] == (
        "gateway web/missing does not exist (referenced as missing)"
    )
    assert messages[("gateway-not-found", "VirtualService", "web", "refs", "spec.gateways[3]")] == (
        "gateway istio-system/nope does not exist"
    )


def test_gateway_host_mismatch_messages(tmp_path: Path) -> None:
    messages = _messages(mesh(tmp_path, PARITY_CASES["gateway hosts"]))
    assert messages[
        ("gateway-host-mismatch", "VirtualService", "web", "hosts", "spec.hosts[1]")
    ] == (
        "host shop.example.org is admitted by none of the gateways this VirtualService is bound "
        "to (istio-system/public): it is not served"
    )
    assert messages[
        ("gateway-host-mismatch", "VirtualService", "web", "empty-gw", "spec.gateways[0]")
    ] == (
        "gateway istio-system/empty admits none of the hosts (e.example.com) from namespace web "
        "(server hosts: )"
    )


def test_messages_are_the_python_ones(tmp_path: Path) -> None:
    """The messages of gateway-host-mismatch and subset-not-found are the Python checks' too,
    on every broken mesh of the parity cases at once."""
    write_tree(tmp_path, BASE)
    for index, (name, text) in enumerate(BROKEN_EVERYTHING.items()):
        write_tree(tmp_path, {f"all/{index}-{name.replace('/', '-')}": text})
    codes = {"gateway-host-mismatch", "subset-not-found"}
    report = check_files(directory_files(tmp_path), CheckOptions(cache_dir=None))
    python = {
        ((f.code, f.kind or "", f.namespace or "", f.name or "", f.field or ""), f.message)
        for f in report.findings
        if f.code in codes
    }
    pack = {(key(f), f["message"]) for f in evaluate(input_of(tmp_path)) if f["code"] in codes}
    assert len(python) > 20
    assert pack == python, f"pack only: {pack - python}; python only: {python - pack}"


# --------------------------------------------------------------------------- guardrails


def guard(
    tmp_path: Path, files: Mapping[str, str], params: Mapping[str, Any] | None = None
) -> set[Key]:
    write_tree(tmp_path, files)
    guardrails = {c for c, info in CODES.items() if info.checked_by == "rego"}
    return keys(evaluate(input_of(tmp_path), params), guardrails)


def test_route_timeout_required(tmp_path: Path) -> None:
    spec = (
        "hosts: [t]\nhttp:\n"
        "  - route:\n" + _route("t") + "    timeout: 2s\n"  # 0: has a timeout
        "  - route:\n" + _route("t") + "  - name: redirect\n"  # 1: no timeout
        "    redirect: {uri: /x}\n"  # 2: a redirect forwards nothing
        "  - directResponse: {status: 503}\n"  # 3
        "  - delegate: {name: child}\n"  # 4
        "  - route: []\n"  # 5: an empty route forwards nothing
        "  - name: canary\n    route:\n" + _route("t") + "    timeout: null\n"  # 6: null is unset
        "tcp:\n  - route:\n" + _route("t")  # tcp rules have no timeout
    )
    found = guard(tmp_path, {"t.yaml": vs("t", "shop", spec)})
    assert found == {
        ("route-timeout-required", "VirtualService", "shop", "t", "spec.http[1]"),
        ("route-timeout-required", "VirtualService", "shop", "t", "spec.http[6]"),
    }


def test_retries_max_default_and_parameter(tmp_path: Path) -> None:
    spec = "hosts: [r]\nhttp:\n" + "".join(
        f"  - route:\n{_route('r')}    timeout: 9s\n    retries: {{attempts: {n}}}\n"
        for n in (5, 6, 2)
    )
    files = {"r.yaml": vs("r", "shop", spec)}
    at = "spec.http[{}].retries.attempts".format
    assert guard(tmp_path, files) == {("retries-max", "VirtualService", "shop", "r", at(1))}
    assert guard(tmp_path, files, {"retries_max": 1}) == {
        ("retries-max", "VirtualService", "shop", "r", at(i)) for i in (0, 1, 2)
    }
    assert guard(tmp_path, files, {"retries_max": 10}) == set()
    # a mistyped parameter falls back to the default
    assert guard(tmp_path, files, {"retries_max": "3"}) == {
        ("retries-max", "VirtualService", "shop", "r", at(1))
    }


def test_no_fault_injection_in_production(tmp_path: Path) -> None:
    spec = (
        "hosts: [f]\nhttp:\n  - route:\n" + _route("f") + "    timeout: 1s\n"
        "    fault: {abort: {httpStatus: 500, percentage: {value: 1}}}\n"
        "  - route:\n" + _route("f") + "    timeout: 1s\n"
    )
    files = {ns + ".yaml": vs("f", ns, spec) for ns in ("prod", "production", "staging")}
    found = {
        ("no-fault-injection", "VirtualService", ns, "f", "spec.http[0].fault")
        for ns in ("prod", "production")
    }
    assert guard(tmp_path, files) == found
    assert guard(tmp_path, files, {"production_namespaces": ["staging"]}) == {
        ("no-fault-injection", "VirtualService", "staging", "f", "spec.http[0].fault")
    }


def test_no_wildcard_mesh_host(tmp_path: Path) -> None:
    route = "http:\n  - route:\n" + _route("w") + "    timeout: 1s\n"
    files = {
        "mesh.yaml": vs("mesh", "shop", 'hosts: ["*", "*.shop.svc.cluster.local", w]\n' + route),
        "mesh-listed.yaml": vs(
            "listed", "shop", 'hosts: ["*.example.com"]\ngateways: [mesh, gw]\n' + route
        ),
        "gateway-only.yaml": vs("gw-only", "shop", 'hosts: ["*"]\ngateways: [gw]\n' + route),
        "empty-gateways.yaml": vs("empty", "shop", 'hosts: ["*.x.io"]\ngateways: []\n' + route),
        "not-wild.yaml": vs("plain", "shop", 'hosts: ["a*.example.com"]\n' + route),
    }
    assert guard(tmp_path, files) == {
        ("no-wildcard-mesh-host", "VirtualService", "shop", "mesh", "spec.hosts[0]"),
        ("no-wildcard-mesh-host", "VirtualService", "shop", "mesh", "spec.hosts[1]"),
        ("no-wildcard-mesh-host", "VirtualService", "shop", "listed", "spec.hosts[0]"),
        ("no-wildcard-mesh-host", "VirtualService", "shop", "empty", "spec.hosts[0]"),
    }


def test_dr_tls_disabled_everywhere_it_can_be_set(tmp_path: Path) -> None:
    spec = (
        "host: t\ntrafficPolicy:\n  tls: {mode: DISABLE}\n  portLevelSettings:\n"
        "    - {port: {number: 80}, tls: {mode: ISTIO_MUTUAL}}\n"
        "    - {port: {number: 81}, tls: {mode: DISABLE}}\n"
        "subsets:\n  - name: v1\n    labels: {v: '1'}\n"
        "  - name: v2\n    labels: {v: '2'}\n    trafficPolicy:\n      tls: {mode: DISABLE}\n"
        "      portLevelSettings:\n        - {port: {number: 82}, tls: {mode: DISABLE}}\n"
    )
    files = {
        "t.yaml": dr("t", "shop", spec),
        "ok.yaml": dr("ok", "shop", "host: ok\ntrafficPolicy:\n  tls: {mode: ISTIO_MUTUAL}\n"),
    }
    assert guard(tmp_path, files) == {
        ("dr-tls-disabled", "DestinationRule", "shop", "t", field)
        for field in (
            "spec.trafficPolicy.tls.mode",
            "spec.trafficPolicy.portLevelSettings[1].tls.mode",
            "spec.subsets[1].trafficPolicy.tls.mode",
            "spec.subsets[1].trafficPolicy.portLevelSettings[0].tls.mode",
        )
    }
    messages = _messages(tmp_path)
    assert messages[
        (
            "dr-tls-disabled",
            "DestinationRule",
            "shop",
            "t",
            "spec.subsets[1].trafficPolicy.portLevelSettings[0].tls.mode",
        )
    ] == (
        "tls.mode is DISABLE in subset v2 on port 82 for t: this traffic leaves the sidecar "
        "in plain text, even under mesh-wide mutual TLS"
    )


# --------------------------------------------------------------------------- garbage

GARBAGE_VALUES: list[Any] = [None, True, 0, -1, 1.5, "", "x", "*", [], [None], {}, {"a": 1}]


def _garbage_bodies() -> Iterable[Any]:
    """Objects of every kind the pack reads, with a value of the wrong type at each place
    the pack looks."""
    places = {
        "VirtualService": [
            "spec",
            "spec.hosts",
            "spec.gateways",
            "spec.http",
            "spec.tcp",
            "spec.tls",
            "spec.http.0",
            "spec.http.0.route",
            "spec.http.0.route.0",
            "spec.http.0.route.0.destination",
            "spec.http.0.route.0.destination.host",
            "spec.http.0.route.0.destination.subset",
            "spec.http.0.route.0.weight",
            "spec.http.0.match",
            "spec.http.0.match.0",
            "spec.http.0.match.0.gateways",
            "spec.http.0.mirror",
            "spec.http.0.mirrors",
            "spec.http.0.mirrors.0",
            "spec.http.0.retries",
            "spec.http.0.retries.attempts",
            "spec.http.0.timeout",
            "spec.http.0.fault",
            "spec.http.0.name",
            "spec.exportTo",
            "spec.exportTo.0",
            "metadata.name",
            "metadata.namespace",
        ],
        "DestinationRule": [
            "spec",
            "spec.host",
            "spec.exportTo",
            "spec.subsets",
            "spec.subsets.0",
            "spec.subsets.0.name",
            "spec.subsets.0.trafficPolicy",
            "spec.trafficPolicy",
            "spec.trafficPolicy.tls",
            "spec.trafficPolicy.portLevelSettings",
            "spec.trafficPolicy.portLevelSettings.0",
            "spec.trafficPolicy.portLevelSettings.0.port",
        ],
        "Gateway": [
            "spec",
            "spec.servers",
            "spec.servers.0",
            "spec.servers.0.hosts",
            "spec.servers.0.hosts.0",
        ],
        "GatewayAPI": [
            "spec",
            "spec.listeners",
            "spec.listeners.0",
            "spec.listeners.0.hostname",
            "metadata.name",
        ],
        "ServiceEntry": ["spec", "spec.hosts", "spec.hosts.0", "spec.exportTo"],
        "Service": ["metadata.annotations", "metadata.annotations.networking.istio.io/exportTo"],
    }
    good = {
        "VirtualService": {
            "hosts": ["a", "*"],
            "gateways": ["gw", "a", "mesh"],
            "http": [
                {
                    "name": "r",
                    "match": [{"gateways": ["gw", "mesh"]}],
                    "route": [
                        {"destination": {"host": "a", "subset": "v1"}, "weight": 50},
                        {"destination": {"host": "a", "subset": "v9"}, "weight": 40},
                    ],
                    "mirror": {"host": "a", "subset": "v9"},
                    "mirrors": [{"destination": {"host": "a", "subset": "v8"}}],
                    "retries": {"attempts": 9},
                    "fault": {"abort": {"httpStatus": 500}},
                }
            ],
            "tcp": [{"route": [{"destination": {"host": "a", "subset": "v7"}}]}],
            "tls": [{"route": [{"destination": {"host": "a", "subset": "v6"}}]}],
            "exportTo": ["b", "~"],
        },
        "DestinationRule": {
            "host": "a",
            "exportTo": ["."],
            "subsets": [{"name": "v1", "trafficPolicy": {"tls": {"mode": "DISABLE"}}}],
            "trafficPolicy": {
                "tls": {"mode": "DISABLE"},
                "portLevelSettings": [{"port": {"number": 1}, "tls": {"mode": "DISABLE"}}],
            },
        },
        "Gateway": {"servers": [{"hosts": ["*/a.prod.svc.cluster.local"]}]},
        "GatewayAPI": {"listeners": [{"hostname": "b.io"}]},
        "ServiceEntry": {"hosts": ["*.a.io", "b.io"], "exportTo": ["*"]},
        "Service": {},
    }
    apis = {"Service": "v1", "GatewayAPI": "gateway.networking.k8s.io/v1"}
    for kind, paths in places.items():
        api = apis.get(kind, "networking.istio.io/v1")
        for path in paths:
            for value in GARBAGE_VALUES:
                body = {
                    "apiVersion": api,
                    "kind": "Gateway" if kind == "GatewayAPI" else kind,
                    "metadata": {
                        "name": "a",
                        "namespace": "prod",
                        "annotations": {"networking.istio.io/exportTo": "., b"},
                    },
                    "spec": json.loads(json.dumps(good[kind])),
                }
                _set(body, path, value)
                yield body


def _set(body: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    if parts[:2] == ["metadata", "annotations"] and len(parts) > 2:
        parts = ["metadata", "annotations", ".".join(parts[2:])]
    node: Any = body
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _documents(bodies: Iterable[Any]) -> list[Document]:
    return [Document("garbage.yaml", i, i + 1, body) for i, body in enumerate(bodies)]


def test_garbage_everywhere_never_fails_the_evaluation() -> None:
    bodies = list(_garbage_bodies())
    document = build_input(_documents(bodies))
    findings = evaluate(document, {"retries_max": [], "production_namespaces": "prod"})
    assert all(CODES[f["code"]].severity == f["severity"] for f in findings)
    # each garbage object alone, too: an index that points at it, and nothing else
    for body in bodies:
        evaluate(build_input(_documents([body])))


@pytest.mark.parametrize(
    "document",
    [
        {"resources": None, "index": None, "commit": None},
        {"resources": "x", "index": [], "commit": 1},
        {"resources": [1, "a", None, []], "index": {"VirtualService": 3}, "commit": None},
        {
            "resources": [{"kind": "VirtualService"}],
            "index": {"VirtualService": {"ns": {"a": "zero", "b": 7}}, "Gateway": {"": []}},
            "commit": None,
        },
        {},
    ],
)
def test_a_malformed_input_document_never_fails_the_evaluation(document: Any) -> None:
    assert evaluate(document) == []


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 200) | st.sampled_from(["", "a", "*", "v1"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "host",
                    "subset",
                    "route",
                    "destination",
                    "weight",
                    "http",
                    "hosts",
                    "gateways",
                    "subsets",
                    "name",
                    "servers",
                    "exportTo",
                    "tls",
                    "mode",
                    "match",
                    "timeout",
                    "listeners",
                    "hostname",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "apiVersion": st.sampled_from(
                    ["networking.istio.io/v1", "v1", "gateway.networking.k8s.io/v1"]
                ),
                "kind": st.sampled_from(
                    ["VirtualService", "DestinationRule", "Gateway", "ServiceEntry", "Service"]
                ),
                "metadata": st.fixed_dictionaries(
                    {
                        "name": st.sampled_from(["a", "b", ""]),
                        "namespace": st.sampled_from(["p", "q"]),
                    }
                ),
                "spec": _json,
            }
        ),
        max_size=6,
    )
)
def test_random_specs_never_fail_the_evaluation(bodies: list[dict[str, Any]]) -> None:
    for finding in evaluate(build_input(_documents(bodies))):
        assert CODES[finding["code"]].severity == finding["severity"]


# --------------------------------------------------------------------------- the real OPA


def _opa(binary: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_opa_unit_tests_check_and_format(opa_binary: Path) -> None:
    tested = _opa(opa_binary, "test", str(POLICIES))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    checked = _opa(opa_binary, "check", "--strict", str(POLICIES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    formatted = _opa(opa_binary, "fmt", "-l", str(POLICIES))
    assert formatted.returncode == 0 and formatted.stdout.strip() == "", formatted.stdout


def test_opa_and_regorus_decide_the_same(tmp_path: Path, opa_binary: Path) -> None:
    root = tmp_path / "mesh"
    mesh(root, BROKEN_EVERYTHING)
    guard_files = {
        "g/t.yaml": vs(
            "t",
            "prod",
            "hosts: ['*']\nhttp:\n  - route:\n"
            + _route("t")
            + "    retries: {attempts: 7}\n    fault: {delay: {fixedDelay: 1s}}\n",
        ),
        "g/d.yaml": dr("d", "prod", "host: d\ntrafficPolicy:\n  tls: {mode: DISABLE}\n"),
    }
    write_tree(root, guard_files)
    document = input_of(root)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name, text in pack_modules().items():
        (bundle / name.replace("/", "_")).write_text(text, encoding="utf-8")
    (bundle / "pack_test.rego").write_text(_query_module(rule_packages()), encoding="utf-8")
    (tmp_path / "input.json").write_text(json.dumps(document), encoding="utf-8")
    ran = _opa(
        opa_binary,
        "eval",
        "-d",
        str(bundle),
        "-i",
        str(tmp_path / "input.json"),
        "--format",
        "json",
        "data.pack_test.results",
    )
    assert ran.returncode == 0, ran.stderr
    results = json.loads(ran.stdout)["result"][0]["expressions"][0]["value"]
    opa_findings = [f for package in sorted(results) for f in results[package]]
    by_opa = sorted(json.dumps(f, sort_keys=True) for f in opa_findings)
    by_regorus = sorted(json.dumps(f, sort_keys=True) for f in evaluate(document))
    assert by_opa == by_regorus
    assert len(by_opa) > 20
