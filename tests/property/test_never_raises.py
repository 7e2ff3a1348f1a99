"""Property tests: whatever the files hold, ``check_files`` returns a Report, never raises.

Three kinds of input are thrown at the loader and the checks:

* YAML-ish text and bytes: fragments of YAML syntax (markers, anchors, aliases, tags, tabs,
  flow brackets), random text, invalid UTF-8, NUL bytes, deep nesting;
* structurally valid manifests of the kinds meshrc reads, drawn from small vocabularies of
  hosts, subsets, namespaces and labels, so that references sometimes resolve and sometimes
  do not;
* the repository template's manifests (``repo-template/mesh``), mutated as data (a key
  deleted or renamed, a value of another type, a list item repeated, unknown keys) and as
  text (a line deleted, repeated, indented, a marker or a tab inserted).

Every report must be well formed (known codes, the catalogue's severity, a file of the input,
a line inside that file) and deterministic (the same files, checked again and through the
parse cache, give the same JSON).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reconciler.checking import CheckOptions, check_files
from reconciler.codes import CODES, Severity
from reconciler.findings import Finding, Report
from reconciler.output import FORMATS, OutputContext, get_writer
from reconciler.source.loading import SourceFile, git_blob_id

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = {
    p.name: p.read_bytes() for p in sorted((REPO / "repo-template" / "mesh").glob("*.yaml"))
}

# MESHRC_PROPERTY_SCALE=20 runs twenty times more examples (a nightly or a bug hunt).
SCALE = max(int(os.environ.get("MESHRC_PROPERTY_SCALE", "1")), 1)

PROPERTY = settings(
    max_examples=300 * SCALE,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Files = dict[str, bytes]


# --------------------------------------------------------------------------- the oracle


def source_files(files: Files) -> list[SourceFile]:
    return [
        SourceFile(path, git_blob_id(data), len(data), (lambda d=data: d))
        for path, data in sorted(files.items())
    ]


def check(files: Files, cache_dir: Path | None = None) -> Report:
    return check_files(source_files(files), CheckOptions(cache_dir=cache_dir, workers=1))


def line_count(data: bytes) -> int:
    """Lines of a file as an editor numbers them (an empty file has line 1).

    ``splitlines`` knows every line break libyaml knows (and a few more), so a line libyaml
    counts is never beyond this count.
    """
    return max(len(data.decode("utf-8", errors="replace").splitlines()), 1)


def assert_well_formed(report: Report, files: Files) -> None:
    assert isinstance(report, Report)
    for finding in report.findings:
        assert isinstance(finding, Finding)
        assert finding.code in CODES, finding
        assert isinstance(finding.severity, Severity), finding
        assert finding.severity in CODES[finding.code].severities(), finding
        assert finding.message, finding
        assert finding.file in files, finding
        assert finding.line is not None, finding
        assert 1 <= finding.line <= line_count(files[finding.file]), (
            finding,
            line_count(files[finding.file]),
        )
    assert report.checked_files == sum(1 for p in files if p.lower().endswith((".yaml", ".yml")))


def check_thoroughly(files: Files) -> Report:
    """Check ``files`` twice without cache, then through a cache: cold, with parsed documents
    cached (reports removed), and with the report cached. The same JSON every time."""
    report = check(files)
    assert_well_formed(report, files)
    expected = report.model_dump_json()
    assert check(files).model_dump_json() == expected
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        assert check(files, cache).model_dump_json() == expected
        shutil.rmtree(cache / "reports", ignore_errors=True)
        assert check(files, cache).model_dump_json() == expected
        assert check(files, cache).model_dump_json() == expected
    return report


# --------------------------------------------------------------------------- (a) YAML-ish text

FRAGMENTS = [
    "---\n",
    "--- ",
    "...\n",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "  ",
    "    ",
    "- ",
    "? ",
    ": ",
    ":",
    "#",
    "# comment\n",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "'",
    '"',
    "\\",
    "|\n",
    ">-\n",
    "&a ",
    "&b ",
    "*a",
    "*b",
    "<<: *a\n",
    "<<: ",
    "!!python/object:os.system ",
    "!!python/object/apply:os.system ['true']",
    "!!binary ",
    "!!timestamp ",
    "!!set ",
    "!!omap ",
    "!!int ",
    "!!bool ",
    "!!float ",
    "!!map ",
    "!!seq ",
    "!!str ",
    "!local ",
    "%YAML 1.1\n",
    "%TAG ! tag:x,2000:\n",
    "apiVersion: v1\n",
    "apiVersion: networking.istio.io/v1\n",
    "kind: Service\n",
    "kind: VirtualService\n",
    "kind: DestinationRule\n",
    "metadata:\n  name: x\n",
    "spec:\n",
    "hosts: [a]\n",
    "0x",
    "0b_",
    "0o7",
    "1_000",
    "1:30",
    "1e9999",
    "._",
    ".nan",
    ".inf",
    "~",
    "null",
    "yes",
    "on",
    "=",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "\x00",
    "\x07",
    "\ufeff",
    "\u2028",
    "\x85",
    "\U0001f600",
]

yamlish_text = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=50
).map("".join)


def nested(depth: int, style: str) -> str:
    if style == "flow-seq":
        return "a: " + "[" * depth + "]" * depth + "\n"
    if style == "flow-map":
        return "a: " + "{b: " * depth + "1" + "}" * depth + "\n"
    if style == "block-map":
        return "".join(" " * i + "k:\n" for i in range(depth)) + " " * depth + "v: 1\n"
    return "".join(" " * (2 * i) + "- \n" for i in range(depth)) + " " * (2 * depth) + "- 1\n"


deep_text = st.one_of(
    st.builds(nested, st.integers(1, 3000), st.sampled_from(["flow-seq", "flow-map"])),
    st.builds(nested, st.integers(1, 300), st.sampled_from(["block-map", "block-seq"])),
)

alias_bomb = st.integers(2, 12).map(
    lambda width: (
        "a: &a ["
        + ", ".join(["x"] * width)
        + "]\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * width) + "]\n"
            for i in range(6)
        )
    )
)


def _encode(text: str) -> bytes:
    return text.encode("utf-8")


yamlish_bytes = st.one_of(
    yamlish_text.map(_encode),
    st.binary(max_size=300),
    st.tuples(yamlish_text, st.binary(max_size=6), yamlish_text).map(
        lambda t: _encode(t[0]) + t[1] + _encode(t[2])
    ),
    st.tuples(st.sampled_from(sorted(TEMPLATE)), yamlish_text, st.integers(0, 5000)).map(
        lambda t: TEMPLATE[t[0]][: t[2]] + _encode(t[1]) + TEMPLATE[t[0]][t[2] :]
    ),
    deep_text.map(_encode),
    alias_bomb.map(_encode),
)


@settings(PROPERTY, max_examples=500 * SCALE)
@given(st.dictionaries(st.sampled_from(["a.yaml", "b/c.yml", "d.YAML"]), yamlish_bytes))
def test_yamlish_bytes_never_raise(files: Files) -> None:
    check_thoroughly(files)


@settings(PROPERTY, max_examples=100 * SCALE)
@given(deep_text)
def test_deep_nesting_is_a_finding_or_a_document(text: str) -> None:
    files = {"deep.yaml": _encode(text)}
    report = check_thoroughly(files)
    # either parsed (then not a Kubernetes object: schema) or refused (invalid-yaml)
    assert [f.code for f in report.findings] in (["schema"], ["invalid-yaml"])


# --------------------------------------------------------------------------- (b) manifests

NAMESPACES = ["default", "bookinfo", "prod", "istio-system"]  # the last: the mesh root
NAMES = ["reviews", "ratings", "details", "gw", "api"]
HOSTS = [
    "reviews",
    "ratings",
    "details",
    "reviews.bookinfo.svc.cluster.local",
    "ratings.prod.svc.cluster.local",
    "details.default.svc.cluster.local",
    "api.example.org",
    "*.example.org",
    "bookinfo.example.com",
    "missing.example.com",
]
SUBSETS = ["v1", "v2", "v3"]
PORTS = [80, 443, 9080, 9090]
GATEWAYS = ["mesh", "gw", "bookinfo/gw", "prod/gw", "./gw", "gw.bookinfo", "missing/gw"]
GATEWAY_HOSTS = ["*", "*/bookinfo.example.com", "./reviews", "bookinfo/*", "*.example.org"]

labels = st.dictionaries(
    st.sampled_from(["app", "version", "istio"]),
    st.sampled_from(["reviews", "ratings", "details", "v1", "v2", "v3", "ingressgateway"]),
    max_size=3,
)


def opt(required: dict[str, Any] | None = None, **optional: Any) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(required or {}, optional=optional)


def small_list(element: st.SearchStrategy[Any], min_size: int = 0, max_size: int = 3) -> Any:
    return st.lists(element, min_size=min_size, max_size=max_size)


ISTIO_ANNOTATIONS = [
    "sidecar.istio.io/inject",
    "sidecar.istio.io/injekt",
    "proxy.istio.io/config",
    "traffic.sidecar.istio.io/excludeOutboundIPRanges",
    "status.sidecar.istio.io/port",
    "kubernetes.io/ingress.class",
    "istio.io",
]
VALUES = ["", "true", "{a: [", "- 1", "proxyAdminPort: 0", "10.0.0.0/8, ::1/200", "1e9999"]
pod_annotations = st.dictionaries(
    st.sampled_from(ISTIO_ANNOTATIONS), st.sampled_from(VALUES), max_size=3
)

metadata = opt(
    {"name": st.sampled_from(NAMES)},
    namespace=st.sampled_from(NAMESPACES),
    labels=labels,
    annotations=st.dictionaries(
        st.sampled_from(["meshrc.io/ignore", "networking.istio.io/exportTo", *ISTIO_ANNOTATIONS]),
        st.sampled_from(
            ["host-not-found", "subset-not-found,weights-not-100", "*", ".", "prod", *VALUES]
        ),
        max_size=2,
    ),
)
export_to = small_list(st.sampled_from([".", "*", "bookinfo", "prod", "~"]), max_size=2)
destination = opt(
    {"host": st.sampled_from(HOSTS)},
    subset=st.sampled_from(SUBSETS),
    port=opt({"number": st.sampled_from(PORTS)}),
)
weighted = opt({"destination": destination}, weight=st.integers(0, 100))
string_match = st.one_of(
    opt({"exact": st.sampled_from(["/", "/api", "/login", "true"])}),
    opt({"prefix": st.sampled_from(["/", "/api", "/api/v1"])}),
    opt({"regex": st.sampled_from([".*", "/.*", "^/x"])}),
    st.just({}),
)
http_match = opt(
    name=st.sampled_from(["canary", "api"]),
    uri=string_match,
    headers=st.dictionaries(
        st.sampled_from(["x-canary", "end-user", "@request.auth.claims.sub"]),
        string_match,
        max_size=2,
    ),
    ignoreUriCase=st.booleans(),
    gateways=small_list(st.sampled_from(GATEWAYS), max_size=2),
    port=st.sampled_from(PORTS),
)
http_route = opt(
    name=st.sampled_from(["primary", "canary"]),
    match=small_list(http_match),
    route=small_list(weighted, min_size=1),
    timeout=st.sampled_from(["1s", "0.5s", "100ms"]),
    mirror=destination,
    mirrorPercent=st.integers(0, 100),
    corsPolicy=opt(allowOrigin=small_list(st.just("https://example.com"), min_size=1)),
)
virtual_service = opt(
    hosts=small_list(st.sampled_from(HOSTS)),
    gateways=small_list(st.sampled_from(GATEWAYS), max_size=2),
    http=small_list(http_route),
    tcp=small_list(
        opt(match=small_list(opt(port=st.sampled_from(PORTS))), route=small_list(weighted)),
        max_size=1,
    ),
    tls=small_list(
        opt(
            {
                "match": small_list(
                    opt({"sniHosts": small_list(st.sampled_from(HOSTS), 1, 2)}), 1, 2
                )
            },
            route=small_list(weighted),
        ),
        max_size=1,
    ),
    exportTo=export_to,
)
client_tls = opt(
    {"mode": st.sampled_from(["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"])},
    caCertificates=st.just("/etc/ssl/ca.pem"),
    credentialName=st.just("upstream-ca"),
    insecureSkipVerify=st.booleans(),
)
traffic_policy = opt(
    tls=client_tls,
    portLevelSettings=small_list(
        opt({"port": opt({"number": st.sampled_from(PORTS)})}, tls=client_tls), max_size=2
    ),
    connectionPool=opt(tcp=opt(maxConnections=st.integers(1, 1000))),
    loadBalancer=opt(simple=st.sampled_from(["ROUND_ROBIN", "LEAST_REQUEST"])),
    outlierDetection=opt(
        consecutiveErrors=st.integers(1, 10), consecutive5xxErrors=st.integers(1, 10)
    ),
)
destination_rule = opt(
    {"host": st.sampled_from(HOSTS)},
    subsets=small_list(
        opt({"name": st.sampled_from(SUBSETS)}, labels=labels, trafficPolicy=traffic_policy)
    ),
    trafficPolicy=traffic_policy,
    exportTo=export_to,
    workloadSelector=opt(matchLabels=labels),
)
gateway = opt(
    selector=labels,
    servers=small_list(
        opt(
            {
                "port": opt(
                    {
                        "number": st.sampled_from(PORTS),
                        "name": st.sampled_from(["http", "https", "tls"]),
                        "protocol": st.sampled_from(["HTTP", "HTTPS", "TCP", "TLS"]),
                    }
                ),
                "hosts": small_list(st.sampled_from(GATEWAY_HOSTS), 1, 2),
            },
            tls=opt(
                mode=st.sampled_from(["SIMPLE", "MUTUAL", "PASSTHROUGH"]),
                credentialName=st.sampled_from(["tls-cert", "api", "gw"]),
            ),
        ),
        max_size=2,
    ),
)
service_entry = opt(
    {"hosts": small_list(st.sampled_from(HOSTS), 1, 2)},
    ports=small_list(
        opt(
            {"number": st.sampled_from(PORTS), "name": st.sampled_from(["http", "https", "tcp"])},
            protocol=st.sampled_from(["HTTP", "HTTPS", "TCP", "TLS"]),
            targetPort=st.sampled_from(PORTS),
        ),
        max_size=2,
    ),
    addresses=small_list(st.sampled_from(["10.0.0.1", "192.168.0.0/16"]), max_size=1),
    location=st.sampled_from(["MESH_EXTERNAL", "MESH_INTERNAL"]),
    resolution=st.sampled_from(["NONE", "STATIC", "DNS"]),
    endpoints=small_list(
        opt(
            {"address": st.just("10.0.0.2")},
            labels=labels,
            ports=st.dictionaries(st.sampled_from(["http", "tcp"]), st.sampled_from(PORTS)),
        ),
        max_size=2,
    ),
    workloadSelector=opt(labels=labels),
    exportTo=export_to,
)
workload_entry = opt(address=st.just("10.0.0.3"), labels=labels, weight=st.integers(0, 100))
EGRESS_HOSTS = ["*/*", "./*", "~/*", "bookinfo/*", "*/*.example.org", "./reviews", "prod/x"]
EGRESS_HOSTS += [f"{ns}/{host}" for ns in ("*", ".", "~prod") for host in HOSTS[3:6]]
sidecar = opt(
    workloadSelector=opt(labels=labels),
    egress=small_list(
        opt(
            {"hosts": small_list(st.sampled_from(EGRESS_HOSTS), 1, 3)},
            port=opt(number=st.sampled_from(PORTS), protocol=st.sampled_from(["HTTP", "GRPC"])),
            bind=st.just("127.0.0.1"),
        ),
        max_size=2,
    ),
    outboundTrafficPolicy=opt(
        mode=st.sampled_from(["REGISTRY_ONLY", "ALLOW_ANY"]),
        egressProxy=destination,
    ),
)
service = opt(
    selector=labels,
    ports=small_list(
        opt(
            {"port": st.sampled_from(PORTS)},
            name=st.sampled_from(["http", "grpc", "tcp", "web", "grpc-web", ""]),
            targetPort=st.one_of(st.sampled_from(PORTS), st.just("http")),
            protocol=st.sampled_from(["TCP", "UDP", "HTTP"]),
            appProtocol=st.sampled_from(["http", "kubernetes.io/h2c", "postgresql"]),
        ),
        max_size=2,
    ),
    type=st.sampled_from(["ClusterIP", "LoadBalancer", "ExternalName"]),
)
security_context = opt(runAsUser=st.sampled_from([1337, 1000, "1337", None]))
pod_spec = opt(
    securityContext=security_context,
    containers=small_list(
        opt(
            name=st.sampled_from(["app", "istio-proxy", "discovery"]),
            image=st.just("example.com/app:1"),
            securityContext=st.one_of(security_context, st.just("root")),
            env=small_list(
                opt(
                    {"name": st.sampled_from(["BLOCKED_CIDRS_IN_JWKS_URIS", "X"])},
                    value=st.sampled_from(["10.0.0.0/8", "", 3]),
                ),
                max_size=2,
            ),
        )
    ),
)
deployment = opt(
    replicas=st.integers(0, 3),
    selector=opt(matchLabels=labels),
    template=opt(metadata=opt(labels=labels, annotations=pod_annotations), spec=pod_spec),
)
policy_selector = opt(matchLabels=labels)
target_refs = small_list(
    opt({"kind": st.sampled_from(["Gateway", "Service"]), "name": st.sampled_from(NAMES)}),
    min_size=1,
    max_size=2,
)
authz_source = st.one_of(
    opt(
        {"namespaces": small_list(st.sampled_from([*NAMESPACES, "*", "pr*", "missing"]), 1)},
        principals=small_list(st.just("cluster.local/ns/prod/sa/x"), 1),
    ),
    opt({"serviceAccounts": small_list(st.just("prod/x"), 1)}),
)
authz_rules = small_list(
    opt(
        **{
            "from": small_list(opt({"source": authz_source}), 1),
            "to": small_list(opt({"operation": opt({"ports": small_list(st.just("9080"), 1)})}), 1),
            "when": small_list(opt({"key": st.just("request.auth.claims[iss]")})),
        }
    )
)
# only what the CRDs' CEL rules and istiod's webhook accept: the models refuse the rest
authorization_policy = st.one_of(
    opt(selector=policy_selector, action=st.sampled_from(["ALLOW", "AUDIT"]), rules=authz_rules),
    opt({"action": st.just("DENY"), "rules": authz_rules}, selector=policy_selector),
    opt(
        {
            "action": st.just("CUSTOM"),
            "provider": st.just({"name": "ext-authz"}),
            "rules": authz_rules,
        },
        targetRefs=target_refs,
    ),
)
mtls_mode = opt(mode=st.sampled_from(["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]))
peer_authentication = st.one_of(
    opt(selector=policy_selector, mtls=mtls_mode),
    opt(
        {
            "selector": opt({"matchLabels": labels.filter(bool)}),
            "portLevelMtls": st.dictionaries(
                st.sampled_from(["9080", "80"]), mtls_mode, min_size=1, max_size=2
            ),
        },
        mtls=mtls_mode,
    ),
)
jwt_rules = small_list(
    opt(
        issuer=st.just("https://issuer.example.com"),
        jwksUri=st.just("https://issuer.example.com/jwks"),
        timeout=st.just("5s"),
    )
)
request_authentication = st.one_of(
    opt(selector=policy_selector, jwtRules=jwt_rules),
    opt({"targetRefs": target_refs}, jwtRules=jwt_rules),
)
SECRET_KEYS = st.sampled_from(["tls.crt", "tls.key", "ca.crt", "cert", "key", "cacert"])
PEM = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
secret_fields = {  # a Secret has no spec: these are top-level keys
    "type": st.sampled_from(["kubernetes.io/tls", "Opaque"]),
    "data": st.dictionaries(
        SECRET_KEYS,
        st.sampled_from(["", "aHVzaAo=", base64.b64encode(PEM.encode()).decode(), "ENC[x,y:z]"]),
        max_size=3,
    ),
    "stringData": st.dictionaries(SECRET_KEYS, st.sampled_from(["", "k", PEM]), max_size=2),
}

ISTIO_VERSIONS = st.sampled_from(
    ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"]
)
SECURITY_VERSIONS = st.sampled_from(["security.istio.io/v1", "security.istio.io/v1beta1"])
KINDS: dict[str, tuple[st.SearchStrategy[str], st.SearchStrategy[Any] | None]] = {
    "VirtualService": (ISTIO_VERSIONS, virtual_service),
    "DestinationRule": (ISTIO_VERSIONS, destination_rule),
    "Gateway": (ISTIO_VERSIONS, gateway),
    "ServiceEntry": (ISTIO_VERSIONS, service_entry),
    "WorkloadEntry": (ISTIO_VERSIONS, workload_entry),
    "Sidecar": (ISTIO_VERSIONS, sidecar),
    "Service": (st.just("v1"), service),
    "Deployment": (st.just("apps/v1"), deployment),
    "Pod": (st.just("v1"), pod_spec),
    "AuthorizationPolicy": (SECURITY_VERSIONS, authorization_policy),
    "PeerAuthentication": (SECURITY_VERSIONS, peer_authentication),
    "RequestAuthentication": (SECURITY_VERSIONS, request_authentication),
}


def manifest(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    version, spec = KINDS[kind]
    required = {"apiVersion": version, "kind": st.just(kind), "metadata": metadata}
    if spec is None:
        return st.fixed_dictionaries(required)
    return st.fixed_dictionaries({**required, "spec": spec})


manifests = st.sampled_from(sorted(KINDS)).flatmap(manifest)
secrets = st.fixed_dictionaries(  # drawn last in meshes(), so the other draws stay as they were
    {"apiVersion": st.just("v1"), "kind": st.just("Secret"), "metadata": metadata},
    optional=secret_fields,
)


def render(objects: list[dict[str, Any]], style: str) -> bytes:
    if style == "json":
        return "---\n".join(json.dumps(o, indent=1) + "\n" for o in objects).encode()
    flow = style == "flow"
    return (
        "# generated\n" + yaml.safe_dump_all(objects, default_flow_style=flow, sort_keys=False)
    ).encode()


@st.composite
def meshes(draw: st.DrawFn) -> tuple[Files, list[dict[str, Any]]]:
    """A few consistent services (a Service and its versioned Deployments, so that hosts,
    subsets and selectors have something to resolve to), then random objects, in 1+ files."""
    namespace = draw(st.sampled_from(NAMESPACES))
    objects: list[dict[str, Any]] = []
    for name in draw(st.lists(st.sampled_from(NAMES[:3]), unique=True, max_size=3)):
        meta = {"name": name, "namespace": namespace}
        ports = [{"name": "http", "port": 9080}]
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta,
                "spec": {"selector": {"app": name}, "ports": ports},
            }
        )
        for version in draw(st.lists(st.sampled_from(SUBSETS), unique=True, max_size=2)):
            pod_labels = {"app": name, "version": version}
            objects.append(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {**meta, "name": f"{name}-{version}"},
                    "spec": {"template": {"metadata": {"labels": pod_labels}}},
                }
            )
        if draw(st.booleans()):  # subsets named after versions, selecting some version
            subsets = [
                {"name": version, "labels": {"version": draw(st.sampled_from(SUBSETS))}}
                for version in draw(st.lists(st.sampled_from(SUBSETS), unique=True, max_size=3))
            ]
            objects.append(
                {
                    "apiVersion": "networking.istio.io/v1",
                    "kind": "DestinationRule",
                    "metadata": meta,
                    "spec": {"host": name, "subsets": subsets},
                }
            )
        if draw(st.booleans()):  # a route to subsets of this or another host
            route = [
                {"destination": {"host": draw(st.sampled_from([name, *HOSTS])), "subset": subset}}
                for subset in draw(st.lists(st.sampled_from(SUBSETS), min_size=1, max_size=2))
            ]
            if len(route) > 1:
                route[0]["weight"], route[1]["weight"] = 50, draw(st.sampled_from([50, 40]))
            spec = {"hosts": [name], "http": [{"route": route}]}
            objects.append(
                {
                    "apiVersion": "networking.istio.io/v1",
                    "kind": "VirtualService",
                    "metadata": meta,
                    "spec": spec,
                }
            )
    objects += draw(st.lists(manifests, min_size=0 if objects else 1, max_size=8))
    objects += draw(st.lists(secrets, max_size=2))
    files: Files = {}
    rest = list(objects)
    index = 0
    while rest:
        take = draw(st.integers(1, len(rest)))
        style = draw(st.sampled_from(["block", "flow", "json"]))
        files[f"mesh/{index}.yaml"] = render(rest[:take], style)
        rest = rest[take:]
        index += 1
    return files, objects


def known_objects(objects: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (o["kind"], o["metadata"].get("namespace", "default"), o["metadata"]["name"])
        for o in objects
    }


@PROPERTY
@given(meshes())
def test_valid_manifests_give_only_check_findings(mesh: tuple[Files, list[dict[str, Any]]]) -> None:
    files, objects = mesh
    report = check_thoroughly(files)
    known = known_objects(objects)
    for finding in report.findings:
        # the generator writes schema-valid YAML: what is left are the cross-resource checks
        assert finding.code not in ("invalid-yaml", "schema"), finding
        assert (finding.kind, finding.namespace, finding.name) in known, finding
    # every generated kind is checked; an object declared twice is counted once
    checked = {
        "Deployment",
        "Pod",
        "Namespace",
        "VirtualService",
        "DestinationRule",
        "ServiceEntry",
        "WorkloadEntry",
        "Service",
        "Secret",
        "Sidecar",
        "AuthorizationPolicy",
        "PeerAuthentication",
        "RequestAuthentication",
    }
    assert report.checked_resources == sum(k in checked | {"Gateway"} for k, _, _ in known)


def _codes(mesh: tuple[Files, list[dict[str, Any]]]) -> set[str]:
    return {f.code for f in check(mesh[0]).findings}


def _routes_to_subset(objects: list[dict[str, Any]]) -> bool:
    return any(
        "subset" in entry["destination"]
        for o in objects
        if o["kind"] == "VirtualService"
        for rule in o["spec"].get("http", ())
        for entry in rule.get("route", ())
    )


DANGLING = {"host-not-found", "subset-not-found", "port-not-found", "gateway-not-found"}
CATEGORIES = {
    "resolved": lambda codes: not codes & DANGLING,
    "host-not-found": lambda codes: "host-not-found" in codes,
    "subset-not-found": lambda codes: "subset-not-found" in codes,
    "gateway-not-found": lambda codes: "gateway-not-found" in codes,
    "subset-selects-nothing": lambda codes: "subset-selects-nothing" in codes,
}


def test_generator_reaches_resolved_and_dangling_references() -> None:
    """The strategy is only useful if it hits both sides: a VirtualService routing to a
    subset whose every reference resolves, and each kind of dangling reference."""
    seen: set[str] = set()

    @settings(max_examples=300, database=None, deadline=None, derandomize=True)
    @given(meshes())
    def sample(mesh: tuple[Files, list[dict[str, Any]]]) -> None:
        if _routes_to_subset(mesh[1]):
            codes = _codes(mesh)
            seen.update(name for name, wanted in CATEGORIES.items() if wanted(codes))

    sample()
    assert seen == set(CATEGORIES)


# --------------------------------------------------------------------------- (c) mutations

OTHER_VALUES: list[Any] = [
    0,
    -1,
    7,
    2**31,
    2**64 + 1,
    10**300,
    "",
    "x",
    "v1",
    "*",
    "1ms",
    "a" * 100_000,
    [],
    [1, "a", None],
    [{}],
    {},
    {"unknown": 1},
    {"name": "v1"},
    None,
    True,
    False,
    0.5,
    1e300,
    float("inf"),
    float("nan"),
]
UNKNOWN_KEYS = ["unknownField", "x-extra", "", "spec", "metadata", "1", "nameX", "hosts"]


def template_documents() -> dict[str, list[Any]]:
    return {name: list(yaml.safe_load_all(data)) for name, data in TEMPLATE.items()}


DOCUMENTS = template_documents()


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, (*prefix, index))


def get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@st.composite
def mutated_data(draw: st.DrawFn) -> Files:
    name = draw(st.sampled_from(sorted(DOCUMENTS)))
    documents = copy.deepcopy(DOCUMENTS[name])
    for _ in range(draw(st.integers(1, 4))):
        all_paths = [p for p in paths(documents) if len(p) >= 2]  # inside a document
        if not all_paths:
            break
        path = draw(st.sampled_from(all_paths))
        parent, last = get(documents, path[:-1]), path[-1]
        operation = draw(st.sampled_from(["delete", "replace", "duplicate", "rename", "insert"]))
        if operation == "delete":
            del parent[last]
        elif operation == "replace":
            parent[last] = copy.deepcopy(draw(st.sampled_from(OTHER_VALUES)))
        elif operation == "duplicate":
            target = get(documents, path)
            if isinstance(target, list) and target:
                target.append(copy.deepcopy(target[draw(st.integers(0, len(target) - 1))]))
            elif isinstance(parent, list):
                parent.append(copy.deepcopy(parent[last]))
        elif operation == "rename" and isinstance(parent, dict):
            new_key = draw(
                st.one_of(st.sampled_from(UNKNOWN_KEYS), st.integers(-2, 2), st.text(max_size=5))
            )
            parent[new_key] = parent.pop(last)
        elif operation == "insert":
            target = get(documents, path)
            container = target if isinstance(target, dict) else parent
            if isinstance(container, dict):
                key = draw(st.sampled_from(UNKNOWN_KEYS))
                container[key] = copy.deepcopy(draw(st.sampled_from(OTHER_VALUES)))
    text = yaml.safe_dump_all(documents, sort_keys=False, allow_unicode=True)
    return {**TEMPLATE, name: text.encode()}


@st.composite
def mutated_text(draw: st.DrawFn) -> Files:
    name = draw(st.sampled_from(sorted(TEMPLATE)))
    lines = TEMPLATE[name].decode().splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        operation = draw(
            st.sampled_from(
                ["delete", "repeat", "indent", "dedent", "marker", "tab", "crlf", "cut", "junk"]
            )
        )
        if operation == "delete":
            del lines[i]
        elif operation == "repeat":
            lines.insert(i, lines[i])  # often a duplicate key
        elif operation == "indent":
            lines[i] = " " * draw(st.integers(1, 3)) + lines[i]
        elif operation == "dedent":
            lines[i] = lines[i].lstrip(" ")
        elif operation == "marker":
            lines.insert(i, draw(st.sampled_from(["---\n", "...\n", "--- |\n", "---\t# x\n"])))
        elif operation == "tab":
            lines[i] = "\t" + lines[i]
        elif operation == "crlf":
            lines = [line.replace("\n", "\r\n") for line in lines]
        elif operation == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        else:
            lines.insert(i, draw(yamlish_text) + "\n")
    return {**TEMPLATE, name: "".join(lines).encode()}


def test_template_is_clean() -> None:
    """The mutations start from a mesh without findings, so what they find is theirs."""
    assert check(TEMPLATE).findings == []
    assert check(TEMPLATE).checked_resources > 10


@settings(PROPERTY, max_examples=400 * SCALE)
@given(mutated_data())
def test_mutated_template_data_never_raises(files: Files) -> None:
    check_thoroughly(files)


@settings(PROPERTY, max_examples=400 * SCALE)
@given(mutated_text())
def test_mutated_template_text_never_raises(files: Files) -> None:
    check_thoroughly(files)


@settings(PROPERTY, max_examples=100 * SCALE)
@given(st.one_of(mutated_data(), mutated_text(), meshes().map(lambda m: m[0])))
def test_every_writer_formats_every_report(files: Files) -> None:
    report = check(files)
    assume(report.findings)
    for name in FORMATS:
        for context in (OutputContext(), OutputContext(base="a" * 40, head="b" * 40, color=True)):
            out = get_writer(name)(report, context)
            assert isinstance(out, str) and out
    parsed = json.loads(get_writer("json")(report, OutputContext()))
    assert len(json.dumps(parsed)) > 0


# --------------------------------------------------------------------------- the oracle can fail


def test_oracle_rejects_a_line_outside_the_file() -> None:
    files = {"a.yaml": b"a: 1\nb: 2\n"}
    bad = Report.build([Finding.of("invalid-yaml", "x", file="a.yaml", line=3)], checked_files=1)
    with pytest.raises(AssertionError):
        assert_well_formed(bad, files)
    good = Report.build([Finding.of("invalid-yaml", "x", file="a.yaml", line=2)], checked_files=1)
    assert_well_formed(good, files)


def test_oracle_rejects_unknown_codes_and_files() -> None:
    files = {"a.yaml": b"a: 1\n"}
    for finding in (
        Finding(code="made-up", severity=Severity.ERROR, message="x", file="a.yaml", line=1),
        Finding(code="schema", severity=Severity.INFO, message="x", file="a.yaml", line=1),
        Finding.of("schema", "x", file="other.yaml", line=1),
        Finding.of("schema", "x", line=1),
    ):
        with pytest.raises(AssertionError):
            assert_well_formed(Report.build([finding], checked_files=1), files)
