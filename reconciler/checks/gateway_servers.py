"""Checks of Gateway servers against what runs them: the gateway pods, their Services, the other
Gateways on those pods and the Secrets that hold their certificates.

These are istioctl analyze's gateway analyzers (IST0162, IST0145, IST0138, IST0101 and IST0161
for ``credentialName``) and IST0165. Where istioctl guesses, meshrc says nothing unless the files
make it certain; where istiod is more precise than istioctl (each gateway pod reads credentials
from its own namespace, ``credentialNames``, a MUTUAL server's CA), meshrc follows istiod.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple, TypeVar

from reconciler.findings import Finding
from reconciler.model.gateway import GatewaySpec, Server, ServerTLSSettings
from reconciler.model.hosts import labels_match
from reconciler.model.kubernetes import SecretSpec, ServiceSpec
from reconciler.model.resources import Resource
from reconciler.model.snapshot import Snapshot

Gateway = Resource[GatewaySpec]
Selector = frozenset[tuple[str, str]]
T = TypeVar("T")
Names = tuple[str, ...]
"""Sorted ``namespace/name`` of Gateways, built once per group and shared by its members."""

TERMINATING_MODES = frozenset({"SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL"})
"""TLS modes in which the gateway terminates TLS with the credential: istiod builds no TLS
context for PASSTHROUGH (the default) and AUTO_PASSTHROUGH, and ISTIO_MUTUAL uses the mesh's
certificate."""
MUTUAL_MODES = frozenset({"MUTUAL", "OPTIONAL_MUTUAL"})
CA_SUFFIX = "-cacert"
"""istiod looks for a MUTUAL server's CA in ``<credentialName>-cacert``, else in the credential."""
CERT_KEYS = (("cert", "key"), ("tls.crt", "tls.key"))
"""The (certificate, key) pairs istiod reads, in its order: generic, then kubernetes.io/tls."""
CA_KEYS = ("cacert", "ca.crt")


def _selector(gateway: Gateway) -> dict[str, str]:
    return dict(gateway.spec.selector or {})


def _selected_gateways(
    snap: Snapshot, derive: Callable[[dict[str, str]], T]
) -> Iterator[tuple[Gateway, dict[str, str], T]]:
    """The Gateways with a selector, each with ``derive`` of its selector: computed once per
    selector, as many Gateways share the pods of one."""
    derived: dict[Selector, T] = {}
    for gateway in snap.gateways.values():
        selector = _selector(gateway)
        if not selector:
            continue
        key = frozenset(selector.items())
        if key not in derived:
            derived[key] = derive(selector)
        yield gateway, selector, derived[key]


def _shown(selector: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "(none)"


def _pods(snap: Snapshot, selector: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """(namespace, labels) of the workloads a gateway selector picks, in every namespace."""
    return [
        (namespace, labels)
        for namespace in sorted(snap.namespaces)
        for labels in snap.workloads.select(namespace, selector)
    ]


# --------------------------------------------------------------------------- IST0162


class _Exposed(NamedTuple):
    """The TCP ports and numeric targetPorts of the Services of a gateway's pods."""

    ports: frozenset[int]
    services: tuple[str, ...]


def check_gateway_ports(snap: Snapshot) -> Iterator[Finding]:
    """A server port that no Service of the gateway's pods has as port or targetPort (IST0162).

    As istioctl: the Services of the pods' namespace whose selector picks a pod, TCP ports, the
    server port matching a Service port or a numeric targetPort. Unlike istioctl, nothing is
    said when no Service with a selector picks the pods (a hostNetwork gateway, or a Service
    kept outside the files), nor when one has a named targetPort (the container port it names
    is not known), nor for a Gateway without selector (it applies to every gateway).
    """
    by_namespace: dict[str, list[Resource[ServiceSpec]]] = defaultdict(list)
    for service in snap.services:
        by_namespace[service.namespace].append(service)

    def exposing(selector: dict[str, str]) -> _Exposed | None:
        return _exposed(_pods(snap, selector), by_namespace)

    for gateway, selector, exposed in _selected_gateways(snap, exposing):
        if exposed is None:
            continue
        for index, server in enumerate(gateway.spec.servers or ()):
            number = server.port.number
            if number in exposed.ports:
                continue
            yield Finding.of(
                "gateway-port-not-on-service",
                f"server port {number} is not a port or targetPort of "
                f"{', '.join(exposed.services)}, the Service of the gateway's pods (selector "
                f"{_shown(selector)}; TCP ports and targetPorts: "
                f"{', '.join(map(str, sorted(exposed.ports))) or 'none'}): traffic through the "
                "Service cannot reach this server",
                **gateway.where(f"spec.servers[{index}].port.number"),
            )


def _exposed(
    pods: list[tuple[str, dict[str, str]]], services: dict[str, list[Resource[ServiceSpec]]]
) -> _Exposed | None:
    ports: set[int] = set()
    names: set[str] = set()
    for namespace, labels in pods:
        for service in services.get(namespace, ()):
            selector = service.spec.selector
            if selector and not labels_match(selector, labels):
                continue
            if selector:  # one without selector counts, as in istioctl, but proves nothing
                names.add(f"Service {service.namespace}/{service.name}")
            for port in service.spec.ports or ():
                if (port.protocol or "TCP") != "TCP":
                    continue
                target = port.target_port
                if isinstance(target, str) and not target.isdigit():
                    return None
                ports.add(port.port)
                if target:
                    ports.add(int(target))
    return _Exposed(frozenset(ports), tuple(sorted(names))) if names else None


# --------------------------------------------------------------------------- IST0145


class _Claim(NamedTuple):
    gateway: Gateway
    server: int
    host: int


def check_conflicting_gateways(snap: Snapshot) -> Iterator[Finding]:
    """Two Gateways on the same pods declare one host on one port and bind (IST0145).

    As istioctl: the same host as written (istiod's ``CheckDuplicates``), port and bind; pods
    are the same when the selectors are equal. meshrc also compares hosts after istiod's own
    rewriting (``host`` is ``*/host``, ``./host`` the gateway's namespace) and takes two
    selectors as the same pods when a workload in the files has the labels of both, where
    istioctl needs one selector to be a substring of the other.
    """
    claims: dict[tuple[int, str, str], list[_Claim]] = defaultdict(list)
    for gateway in snap.gateways.values():
        for s_index, server in enumerate(gateway.spec.servers or ()):
            for h_index, host in enumerate(server.hosts or ()):
                key = (server.port.number, server.bind or "", _namespaced(host, gateway.namespace))
                claims[key].append(_Claim(gateway, s_index, h_index))
    shared: dict[tuple[Selector, Selector], bool] = {}
    conflicts: dict[tuple[str, str, int], tuple[_Claim, list[Names], list[str]]] = {}
    for (_, _, host), members in sorted(claims.items(), key=lambda item: item[0]):
        groups = _by_selector(members)
        if len({_name(c.gateway) for c in members}) < 2:
            continue
        for selector, group in groups.items():
            together = _names(
                c.gateway
                for other, others in groups.items()
                if _same_pods(snap, selector, other, shared)
                for c in others
            )
            if len(together) < 2:
                continue
            for claim in group:
                place = (claim.gateway.namespace, claim.gateway.name, claim.server)
                _, rivals, hosts = conflicts.setdefault(place, (claim, [], []))
                rivals.append(together)
                hosts.append(host.partition("/")[2])
    for claim, rivals, hosts in conflicts.values():
        gateway = claim.gateway
        server = (gateway.spec.servers or [])[claim.server]
        yield Finding.of(
            "conflicting-gateways",
            f"Gateway {_others(rivals, gateway)} also declares "
            f"{', '.join(sorted(set(hosts)))} on port {server.port.number} for the same gateway "
            f"pods (selector {_shown(_selector(gateway))}): istiod drops or merges one of the "
            "servers, so which settings serve the host is undefined",
            **gateway.where(f"spec.servers[{claim.server}].hosts[{claim.host}]"),
        )


def _name(gateway: Gateway) -> str:
    return f"{gateway.namespace}/{gateway.name}"


def _names(gateways: Iterable[Gateway]) -> Names:
    return tuple(sorted({_name(g) for g in gateways}))


def _by_selector(members: list[_Claim]) -> dict[Selector, list[_Claim]]:
    groups: dict[Selector, list[_Claim]] = defaultdict(list)
    for member in members:
        groups[frozenset(_selector(member.gateway).items())].append(member)
    return groups


def _others(groups: list[Names], gateway: Gateway, shown: int = 5) -> str:
    """The Gateways of ``groups`` but ``gateway``: the first few, and how many more."""
    own = _name(gateway)
    names = groups[0] if len(groups) == 1 else _names_of(groups)
    first = [n for n in names[: shown + 1] if n != own][:shown]
    more = len(names) - (own in names) - len(first)
    return ", ".join(first) + (f" and {more} more" if more else "")


def _names_of(groups: list[Names]) -> Names:
    return tuple(sorted({name for group in groups for name in group}))


def _namespaced(host: str, namespace: str) -> str:
    """A server host as istiod compares it: ``ns/host``, ``*`` for any namespace."""
    host_namespace, sep, name = host.partition("/")
    if not sep:
        return f"*/{host}"
    return f"{namespace if host_namespace == '.' else host_namespace}/{name}"


def _same_pods(
    snap: Snapshot, a: Selector, b: Selector, cache: dict[tuple[Selector, Selector], bool]
) -> bool:
    """Whether two Gateway selectors apply to the same pods: equal, or a workload of the files
    that both pick (selectors that disagree on a label never do)."""
    if a == b:
        return True
    if (a, b) not in cache:
        first, second = dict(a), dict(b)
        agree = all(second.get(k, v) == v for k, v in first.items())
        cache[(a, b)] = cache[(b, a)] = agree and bool(
            snap.workloads.select(None, {**first, **second})
        )
    return cache[(a, b)]


# --------------------------------------------------------------------------- IST0138


def check_duplicate_certificates(snap: Snapshot) -> Iterator[Finding]:
    """Servers of two Gateways that serve the same certificate (IST0138).

    As istioctl: a Gateway is reported when its selector is a subset of the other's (an empty
    one of every Gateway's), whatever the namespaces, and both servers have the same
    ``credentialName`` or, without one, the same ``serverCertificate`` and ``privateKey``.
    meshrc also compares ``credentialNames``, which istiod reads instead of ``credentialName``.
    """
    holders: dict[tuple[str, ...], list[tuple[Gateway, int]]] = defaultdict(list)
    for gateway in snap.gateways.values():
        for index, server in enumerate(gateway.spec.servers or ()):
            for identity in _certificates(server.tls):
                holders[identity].append((gateway, index))
    found: dict[tuple[str, str, int], tuple[Gateway, int, list[Names]]] = {}
    for _, members in sorted(holders.items(), key=lambda item: item[0]):
        groups: dict[Selector, list[tuple[Gateway, int]]] = defaultdict(list)
        for gateway, index in members:
            groups[frozenset(_selector(gateway).items())].append((gateway, index))
        for selector, group in groups.items():
            wider = _names(
                g for other, others in groups.items() if selector <= other for g, _ in others
            )
            if len(wider) < 2:
                continue
            for gateway, index in group:
                key = (gateway.namespace, gateway.name, index)
                found.setdefault(key, (gateway, index, []))[2].append(wider)
    for gateway, index, others in found.values():
        yield Finding.of(
            "gateway-duplicate-certificate",
            f"the certificate of this server is also served by Gateway "
            f"{_others(others, gateway)} on the same gateway pods: an HTTP/2 client that "
            "reuses one connection for the hosts of both may get 404s",
            **gateway.where(_certificate_field(gateway, index)),
        )


def _credential_names(tls: ServerTLSSettings) -> list[str]:
    """The credentials istiod reads: ``credentialNames`` if set, else ``credentialName``."""
    if tls.credential_names:
        return list(tls.credential_names)
    return [tls.credential_name] if tls.credential_name else []


def _certificates(tls: ServerTLSSettings | None) -> list[tuple[str, ...]]:
    if tls is None:
        return []
    names = _credential_names(tls)
    if names:
        return [("credential", name) for name in dict.fromkeys(names)]
    if tls.server_certificate and tls.private_key:
        return [("files", tls.server_certificate, tls.private_key)]
    return []


def _certificate_field(gateway: Gateway, index: int) -> str:
    tls = (gateway.spec.servers or [])[index].tls
    path = f"spec.servers[{index}].tls"
    if tls is not None and tls.credential_names:
        return f"{path}.credentialNames"
    if tls is not None and tls.credential_name:
        return f"{path}.credentialName"
    return f"{path}.serverCertificate"


# --------------------------------------------------------------------------- IST0101, IST0161


def check_gateway_credentials(snap: Snapshot) -> Iterator[Finding]:
    """credentialName Secrets that are missing or that istiod cannot use (IST0101, IST0161).

    istiod reads a credential from the namespace of the gateway pod that serves it, so it is
    looked for in each namespace where the Gateway's selector picks workloads (istioctl takes
    one of them). A Secret is taken as missing only when the files declare Secrets in that
    namespace and no cert-manager Certificate, SealedSecret or ExternalSecret makes it:
    otherwise the namespace's Secrets are kept outside the files, and istioctl's report of
    every credential as missing would be noise. Only servers that terminate TLS (SIMPLE,
    MUTUAL, OPTIONAL_MUTUAL) read their credential; certificates are checked for form, not for
    dates, so that a check gives the same result any day.
    """
    known = {namespace for namespace, _ in snap.secrets}
    known |= {b.namespace for b in snap.broken if b.kind == "Secret"}
    unsure = {(b.namespace, b.name) for b in snap.broken if b.kind == "Secret"}
    unsure |= snap.made_secrets

    def pod_namespaces(selector: dict[str, str]) -> list[str]:
        return sorted({namespace for namespace, _ in _pods(snap, selector)} & known)

    for gateway, _, namespaces in _selected_gateways(snap, pod_namespaces):
        for index, server in enumerate(gateway.spec.servers or ()):
            for namespace in namespaces:
                yield from _server_credentials(snap, gateway, index, server, namespace, unsure)


def _server_credentials(
    snap: Snapshot,
    gateway: Gateway,
    index: int,
    server: Server,
    namespace: str,
    unsure: set[tuple[str, str]],
) -> Iterator[Finding]:
    tls = server.tls
    if tls is None or tls.mode not in TERMINATING_MODES:
        return
    path = f"spec.servers[{index}].tls"
    names = _credential_names(tls)
    fields = (
        [f"{path}.credentialNames[{i}]" for i in range(len(names))]
        if tls.credential_names
        else [f"{path}.credentialName"] * len(names)
    )
    found: list[Resource[SecretSpec] | None] = []
    for name, field in zip(names, fields, strict=True):
        secret_name = name.removeprefix("kubernetes://")
        secret = snap.secrets.get((namespace, secret_name))
        found.append(secret)
        if "://" in secret_name or (namespace, secret_name) in unsure:
            continue  # another kind of credential, or a Secret whose content is not known
        if secret is None:
            yield Finding.of(
                "gateway-credential-not-found",
                _missing(snap, gateway, secret_name, namespace),
                **gateway.where(field),
            )
            continue
        problem = _certificate_problem(secret.spec)
        if problem is not None:
            yield _invalid(gateway, field, secret, problem)
    first = found[0] if found else None
    if first is not None and tls.mode in MUTUAL_MODES and not tls.ca_cert_credential_name:
        yield from _client_ca(snap, gateway, fields[0], first, unsure, tls.mode)


def _missing(snap: Snapshot, gateway: Gateway, name: str, namespace: str) -> str:
    message = (
        f"Secret {namespace}/{name} does not exist: the files declare Secrets in {namespace}, "
        f"the namespace of the gateway's pods (selector {_shown(_selector(gateway))}), where "
        "istiod reads the credential, but not this one"
    )
    if namespace != gateway.namespace and (gateway.namespace, name) in snap.secrets:
        message += f" (a Secret of that name is in {gateway.namespace}, the Gateway's namespace)"
    return message


def _certificate_problem(spec: SecretSpec) -> str | None:
    """Why istiod cannot read a certificate and key from the Secret (ExtractCertInfo), or why
    its certificate is not one; None when it can (or when its values cannot be read)."""
    for cert, key in CERT_KEYS:
        if _filled(spec, cert) and _filled(spec, key):
            value = spec.value(cert)
            if value is not None and value.certificate is False:
                return f"{cert} is not a PEM-encoded X.509 certificate"
            return None
    for cert, key in CERT_KEYS:
        if spec.value(cert) is not None and spec.value(key) is not None:
            return f"its keys {cert} and {key} are empty"
    keys = sorted({*spec.data, *spec.string_data})
    shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
    kind = f"type {spec.type}, " if spec.type else ""
    return f"it has neither tls.crt and tls.key nor cert and key ({kind}keys: {shown or 'none'})"


def _filled(spec: SecretSpec, key: str) -> bool:
    value = spec.value(key)
    return value is not None and value.empty is not True


def _client_ca(
    snap: Snapshot,
    gateway: Gateway,
    field: str,
    secret: Resource[SecretSpec],
    unsure: set[tuple[str, str]],
    mode: str,
) -> Iterator[Finding]:
    """A MUTUAL server verifies clients with the CA of ``<name>-cacert``, else of the
    credential itself (istiod's GetCaCert)."""
    ca_name = (secret.namespace, secret.name + CA_SUFFIX)
    if ca_name in unsure:
        return
    holder = snap.secrets.get(ca_name, secret)
    for key in CA_KEYS:
        if _filled(holder.spec, key):
            value = holder.spec.value(key)
            if value is not None and value.certificate is False:
                yield _invalid(
                    gateway, field, holder, f"{key} is not a PEM-encoded X.509 certificate"
                )
            return
    where = "" if holder is not secret else f", and there is no Secret {secret.name}{CA_SUFFIX}"
    yield _invalid(
        gateway,
        field,
        holder,
        f"the server is {mode} but it has no client CA (key ca.crt or cacert){where}",
    )


def _invalid(gateway: Gateway, field: str, secret: Resource[SecretSpec], problem: str) -> Finding:
    return Finding.of(
        "invalid-gateway-credential",
        f"Secret {secret.namespace}/{secret.name} cannot serve this gateway: {problem}; "
        "the gateway proxy cannot load it, so the server does not work",
        **gateway.where(field),
    )


# --------------------------------------------------------------------------- IST0165
