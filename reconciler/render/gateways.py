"""A Gateway's listeners, as istiod builds them for its proxy.

Servers merge per port: plain HTTP servers share one route configuration (``http.<port>``);
each HTTPS server terminates TLS in a filter chain of its own, chosen by SNI, with its own
route configuration (``https.<port>.<portName>.<gateway>.<namespace>``); TLS PASSTHROUGH
servers pass connections on by SNI (a VirtualService's ``tls`` rules), TCP servers by its
``tcp`` rules. Certificates are files: ``serverCertificate``/``privateKey``/``caCertificates``,
or for ``credentialName: X`` the files of the Secret X mounted under
``RenderOptions.credentials_dir`` (``X/tls.crt``, ``X/tls.key``, ``X/ca.crt``).
"""

from __future__ import annotations

from typing import Any

from reconciler.model.gateway import Server
from reconciler.model.hosts import covers, fqdn, gateway_reference, split_gateway_host
from reconciler.model.resources import Resource
from reconciler.model.snapshot import Snapshot
from reconciler.model.virtualservice import RouteDestination, VirtualServiceSpec
from reconciler.render.listeners import http_listener, http_manager, route_configuration
from reconciler.render.options import RenderOptions
from reconciler.render.registry import Resolver
from reconciler.render.routes import Proxy, RouteContext, is_catch_all, virtual_service_routes
from reconciler.render.values import typed

HTTP = frozenset({"HTTP", "HTTP2", "GRPC"})
TERMINATING = frozenset({"SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL"})
TLS_VERSIONS = {
    "TLSV1_0": "TLSv1_0",
    "TLSV1_1": "TLSv1_1",
    "TLSV1_2": "TLSv1_2",
    "TLSV1_3": "TLSv1_3",
}
VirtualService = Resource[VirtualServiceSpec]


def gateway_listeners(
    snapshot: Snapshot,
    resolve: Resolver,
    proxy: Proxy,
    options: RenderOptions,
    notes: list[str],
) -> list[dict[str, Any]]:
    assert proxy.gateway is not None
    namespace, name = proxy.gateway.split("/", 1)
    gateway = snapshot.gateways[(namespace, name)]
    bound = sorted(
        (
            vs
            for vs in snapshot.virtual_services
            if any(
                gateway_reference(g, vs.namespace)[:2] == (namespace, name)
                for g in vs.spec.gateways or ()
            )
        ),
        key=lambda vs: (vs.namespace, vs.name),
    )
    by_port: dict[int, list[Server]] = {}
    for server in gateway.spec.servers or ():
        by_port.setdefault(server.port.number, []).append(server)
    listeners = []
    for number in sorted(by_port):
        builder = _PortBuilder(proxy, number, bound, resolve, options, notes)
        chains = builder.chains(by_port[number])
        if not chains:
            continue
        listener: dict[str, Any] = {
            "name": f"0.0.0.0_{number}",
            "address": {
                "socket_address": {
                    "address": options.gateway_address,
                    "port_value": options.listen_port(number),
                }
            },
            "filter_chains": chains,
        }
        if any("filter_chain_match" in chain for chain in chains):
            listener["listener_filters"] = [
                {
                    "name": "envoy.filters.listener.tls_inspector",
                    "typed_config": typed(
                        "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
                    ),
                }
            ]
        listeners.append(listener)
    return listeners


class _PortBuilder:
    """The filter chains of one Gateway port."""

    def __init__(
        self,
        proxy: Proxy,
        number: int,
        bound: list[VirtualService],
        resolve: Resolver,
        options: RenderOptions,
        notes: list[str],
    ) -> None:
        assert proxy.gateway is not None
        self.proxy = proxy
        self.namespace, self.name = proxy.gateway.split("/", 1)
        self.number = number
        self.bound = bound
        self.resolve = resolve
        self.options = options
        self.notes = notes

    def chains(self, servers: list[Server]) -> list[dict[str, Any]]:
        plain = [s for s in servers if s.port.protocol.upper() in HTTP]
        chains = []
        if plain:
            hosts = self._virtual_hosts(plain)
            listener = http_listener(
                "",
                "",
                0,
                route_configuration(f"http.{self.number}", hosts),
                f"outbound_0.0.0.0_{self.number}",
                gateway=True,
            )
            chains += listener["filter_chains"]
        for server in servers:
            protocol = server.port.protocol.upper()
            mode = server.tls.mode if server.tls else None
            if protocol in HTTP:
                continue
            if protocol == "HTTPS" and mode in TERMINATING:
                chains.append(self._https_chain(server))
            elif protocol in ("HTTPS", "TLS") and mode == "PASSTHROUGH":
                chains += self._passthrough_chains(server)
            elif protocol in ("TCP", "MONGO", "REDIS", "MYSQL"):
                chains += self._tcp_chains(server)
            else:
                self.notes.append(
                    f"Gateway {self.proxy.gateway} port {self.number} ({protocol}"
                    f"{', ' + mode if mode else ''}): not rendered for a standalone Envoy"
                )
        return chains

    def _virtual_hosts(self, servers: list[Server]) -> list[dict[str, Any]]:
        context = RouteContext(
            self.proxy, self.number, self.resolve, self.notes, self.resolve.hash_policies
        )
        hosts: dict[str, dict[str, Any]] = {}
        added: set[tuple[str, str, str]] = set()  # (domain, VS namespace, VS name)
        for server in servers:
            redirect = bool(server.tls and server.tls.https_redirect)
            for vs, domain in self._admitted(server, "http"):
                entry = hosts.setdefault(
                    domain, {"name": f"{domain}:{self.number}", "domains": [domain], "routes": []}
                )
                if redirect:
                    entry["require_tls"] = "ALL"
                if (domain, vs.namespace, vs.name) not in added:
                    added.add((domain, vs.namespace, vs.name))
                    entry["routes"].extend(virtual_service_routes(vs, context))
        virtual_hosts = []
        for domain in sorted(hosts):
            entry = hosts[domain]
            entry["routes"] = sorted(entry["routes"], key=lambda r: is_catch_all(r["match"]))
            virtual_hosts.append(entry)
        return virtual_hosts or [
            {"name": f"blackhole:{self.number}", "domains": ["*"], "routes": []}
        ]

    def _admitted(self, server: Server, protocol: str) -> list[tuple[VirtualService, str]]:
        """The bound VirtualServices with ``protocol`` rules that a host of ``server`` admits,
        each with the domain it is served under (the more specific of the two names)."""
        found = []
        for server_host in server.hosts:
            allowed_namespace, pattern = split_gateway_host(server_host, self.namespace)
            for vs in self.bound:
                if allowed_namespace not in ("*", vs.namespace) or not getattr(vs.spec, protocol):
                    continue
                for vs_host in vs.spec.hosts or ():
                    host = fqdn(vs_host, vs.namespace)
                    if covers(pattern, host):
                        found.append((vs, host))
                    elif covers(host, pattern):
                        found.append((vs, pattern))
        return found

    def _https_chain(self, server: Server) -> dict[str, Any]:
        port_name = server.port.name
        route_name = f"https.{self.number}.{port_name}.{self.name}.{self.namespace}"
        manager = http_manager(
            route_configuration(route_name, self._virtual_hosts([server])),
            f"outbound_0.0.0.0_{self.number}_{port_name}",
            gateway=True,
        )
        chain: dict[str, Any] = {
            "filters": [manager],
            "transport_socket": {
                "name": "envoy.transport_sockets.tls",
                "typed_config": self._tls_context(server),
            },
        }
        names = _server_names(server)
        if names:
            chain["filter_chain_match"] = {"server_names": names}
        return chain

    def _tls_context(self, server: Server) -> dict[str, Any]:
        tls = server.tls
        assert tls is not None
        certificate, key, ca = tls.server_certificate, tls.private_key, tls.ca_certificates
        if tls.credential_name:
            folder = f"{self.options.credentials_dir.rstrip('/')}/{tls.credential_name}"
            certificate, key, ca = f"{folder}/tls.crt", f"{folder}/tls.key", f"{folder}/ca.crt"
        common: dict[str, Any] = {"alpn_protocols": ["h2", "http/1.1"]}
        if certificate and key:
            common["tls_certificates"] = [
                {"certificate_chain": {"filename": certificate}, "private_key": {"filename": key}}
            ]
        else:
            self.notes.append(
                f"Gateway {self.proxy.gateway} port {self.number}: HTTPS without a certificate"
            )
        if tls.mode in ("MUTUAL", "OPTIONAL_MUTUAL") and ca:
            common["validation_context"] = {"trusted_ca": {"filename": ca}}
        versions = {
            "tls_minimum_protocol_version": TLS_VERSIONS.get(tls.min_protocol_version or ""),
            "tls_maximum_protocol_version": TLS_VERSIONS.get(tls.max_protocol_version or ""),
        }
        params: dict[str, Any] = {k: v for k, v in versions.items() if v}
        if tls.cipher_suites:
            params["cipher_suites"] = list(tls.cipher_suites)
        if params:
            common["tls_params"] = params
        context: dict[str, Any] = {"common_tls_context": common}
        if tls.mode == "MUTUAL":
            context["require_client_certificate"] = True
        return typed("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", **context)

    def _passthrough_chains(self, server: Server) -> list[dict[str, Any]]:
        """One chain per SNI host of each admitted ``tls`` rule, in VirtualService order."""
        chains = []
        seen: set[str] = set()
        for vs, _domain in self._admitted(server, "tls"):
            for rule in vs.spec.tls or ():
                for match in rule.match:
                    if match.port is not None and match.port != self.number:
                        continue
                    names = [h for h in match.sni_hosts if h not in seen]
                    proxy = self._tcp_proxy(rule.route or [], vs)
                    if not names or proxy is None:
                        continue
                    seen.update(names)
                    chains.append(
                        {"filter_chain_match": {"server_names": names}, "filters": [proxy]}
                    )
        return chains

    def _tcp_chains(self, server: Server) -> list[dict[str, Any]]:
        """The first admitted ``tcp`` rule for this port takes every connection."""
        for vs, _domain in self._admitted(server, "tcp"):
            for rule in vs.spec.tcp or ():
                ports = {m.port for m in rule.match or ()}
                if rule.match and self.number not in ports:
                    continue
                proxy = self._tcp_proxy(rule.route or [], vs)
                if proxy is not None:
                    return [{"filters": [proxy]}]
        return []

    def _tcp_proxy(
        self, route: list[RouteDestination], vs: VirtualService
    ) -> dict[str, Any] | None:
        clusters = [
            (cluster, entry.weight)
            for entry in route
            if (cluster := self.resolve(entry.destination, vs.namespace, self.number))
        ]
        if not clusters:
            return None
        config: dict[str, Any] = {"stat_prefix": clusters[0][0]}
        if len(clusters) == 1:
            config["cluster"] = clusters[0][0]
        else:
            config["weighted_clusters"] = {
                "clusters": [{"name": c, "weight": w} for c, w in clusters if w]
            }
        return {
            "name": "envoy.filters.network.tcp_proxy",
            "typed_config": typed(
                "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", **config
            ),
        }


def _server_names(server: Server) -> list[str]:
    """SNI names of a server: its hosts without namespace, none when it takes any name."""
    names = [host.partition("/")[2] or host for host in server.hosts]
    return [] if "*" in names else sorted(set(names))
