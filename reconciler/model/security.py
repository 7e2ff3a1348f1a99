"""Security specs (security.istio.io v1 and v1beta1 share one schema): AuthorizationPolicy,
PeerAuthentication and RequestAuthentication.

Class names follow istio/api ``security/v1beta1/*.proto`` and ``type/v1beta1/selector.proto``.
Besides the CRDs' structural schema, the models enforce the CRDs' CEL rules that decide what a
policy applies to (a selector or targetRefs, never both; ``portLevelMtls`` only with a selector)
and the rules istiod's validating webhook applies to AuthorizationPolicy actions: the API server
or the webhook refuses such an object, so it never takes effect.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, model_validator

from reconciler.model.base import IstioModel
from reconciler.model.common import Duration, ExclusiveFieldsModel, MatchLabelsWorkloadSelector

__all__ = [
    "AuthorizationPolicySpec",
    "ClaimToHeader",
    "Condition",
    "ExtensionProvider",
    "From",
    "JWTHeader",
    "JWTRule",
    "MutualTLS",
    "Operation",
    "PeerAuthenticationSpec",
    "PolicyTargetReference",
    "RequestAuthenticationSpec",
    "Rule",
    "Source",
    "To",
]

NonEmpty = Annotated[str, Field(min_length=1)]
MtlsMode = Literal["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]
_GROUP = r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_KIND = r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"


def _same_namespace(text: str) -> str:
    if text:
        raise ValueError("cross namespace referencing is not currently supported")
    return text


class PolicyTargetReference(IstioModel):
    """A Gateway API Gateway, Service, ServiceEntry or GatewayClass a policy attaches to."""

    group: Annotated[str, Field(max_length=253, pattern=_GROUP)] | None = None
    kind: Annotated[str, Field(min_length=1, max_length=63, pattern=_KIND)]
    name: Annotated[str, Field(min_length=1, max_length=253)]
    namespace: Annotated[str, AfterValidator(_same_namespace)] | None = None


def _one_attachment(
    selector: MatchLabelsWorkloadSelector | None,
    target_ref: PolicyTargetReference | None,
    target_refs: list[PolicyTargetReference] | None,
) -> None:
    """The CRDs' rule: a policy selects workloads by labels or attaches by targetRefs."""
    if sum(value is not None for value in (selector, target_ref, target_refs)) > 1:
        raise ValueError("only one of targetRefs, targetRef or selector can be set")


# --- AuthorizationPolicy ------------------------------------------------------------------


class Source(IstioModel):
    """Who sends the request: peer identities, namespaces, IP blocks, JWT principals."""

    principals: list[str] | None = None
    not_principals: list[str] | None = None
    request_principals: list[str] | None = None
    not_request_principals: list[str] | None = None
    namespaces: list[str] | None = None
    not_namespaces: list[str] | None = None
    service_accounts: list[Annotated[str, Field(max_length=320)]] | None = Field(
        default=None, max_length=16
    )
    not_service_accounts: list[Annotated[str, Field(max_length=320)]] | None = Field(
        default=None, max_length=16
    )
    ip_blocks: list[str] | None = None
    not_ip_blocks: list[str] | None = None
    remote_ip_blocks: list[str] | None = None
    not_remote_ip_blocks: list[str] | None = None
    trust_domains: list[str] | None = None
    not_trust_domains: list[str] | None = None

    @model_validator(mode="after")
    def _service_accounts_alone(self) -> Self:
        accounts = self.service_accounts is not None or self.not_service_accounts is not None
        others = (self.principals, self.not_principals, self.namespaces, self.not_namespaces)
        if accounts and any(value is not None for value in others):
            raise ValueError("cannot set serviceAccounts with namespaces or principals")
        if not any(self.__dict__.values()):
            raise ValueError("source must not be empty (istiod's webhook refuses it)")
        return self


class Operation(IstioModel):
    """What the request does: hosts, ports, methods, paths."""

    hosts: list[str] | None = None
    not_hosts: list[str] | None = None
    ports: list[str] | None = None
    not_ports: list[str] | None = None
    methods: list[str] | None = None
    not_methods: list[str] | None = None
    paths: list[str] | None = None
    not_paths: list[str] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not any(self.__dict__.values()):
            raise ValueError("operation must not be empty (istiod's webhook refuses it)")
        return self


class From(IstioModel):
    """One source a rule matches (``Rule.From``); istiod's webhook requires its source."""

    source: Source | None = None

    @model_validator(mode="after")
    def _has_source(self) -> Self:
        if self.source is None:
            raise ValueError("from.source is required (istiod's webhook refuses an item without)")
        return self


class To(IstioModel):
    """One operation a rule matches (``Rule.To``); istiod's webhook requires its operation."""

    operation: Operation | None = None

    @model_validator(mode="after")
    def _has_operation(self) -> Self:
        if self.operation is None:
            raise ValueError("to.operation is required (istiod's webhook refuses an item without)")
        return self


class Condition(IstioModel):
    """An extra condition on an Istio attribute (``request.auth.claims[iss]``, ...)."""

    key: str
    values: list[str] | None = None
    not_values: list[str] | None = None


class Rule(IstioModel):
    """Matches requests from the sources, to the operations, under the conditions (all of)."""

    from_: list[From] | None = Field(default=None, alias="from", max_length=512)
    to: list[To] | None = None
    when: list[Condition] | None = None


class ExtensionProvider(IstioModel):
    """The external authorizer of a CUSTOM policy, by its MeshConfig name."""

    name: str | None = None


class AuthorizationPolicySpec(ExclusiveFieldsModel):
    """spec of an AuthorizationPolicy: which workloads, which requests, which action."""

    exclusive_fields = (("provider",),)

    selector: MatchLabelsWorkloadSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: list[PolicyTargetReference] | None = Field(default=None, max_length=16)
    rules: list[Rule] | None = Field(default=None, max_length=512)
    action: Literal["ALLOW", "DENY", "AUDIT", "CUSTOM"] | None = None
    provider: ExtensionProvider | None = None

    @model_validator(mode="after")
    def _attachment_and_action(self) -> Self:
        _one_attachment(self.selector, self.target_ref, self.target_refs)
        action = self.action or "ALLOW"
        if self.provider is not None and action != "CUSTOM":
            raise ValueError(f"provider is only for the CUSTOM action, not {action}")
        if action in ("DENY", "CUSTOM") and self.rules is None:
            raise ValueError(
                f"a {action} policy without rules never applies; add an empty rule {{}} to "
                "match every request"
            )
        if action == "CUSTOM" and not (self.provider and self.provider.name):
            raise ValueError("a CUSTOM policy needs provider.name")
        return self


# --- PeerAuthentication -------------------------------------------------------------------


class MutualTLS(IstioModel):
    """The mTLS mode a workload accepts; UNSET inherits from the enclosing scope."""

    mode: MtlsMode | None = None


class PeerAuthenticationSpec(IstioModel):
    """spec of a PeerAuthentication: what traffic the selected workloads' sidecars accept."""

    selector: MatchLabelsWorkloadSelector | None = None
    mtls: MutualTLS | None = None
    port_level_mtls: dict[str, MutualTLS] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _port_level(self) -> Self:
        if self.port_level_mtls is None:
            return self
        if not (self.selector and self.selector.match_labels):
            raise ValueError("portLevelMtls requires selector")
        for key in self.port_level_mtls:
            if not (key.isdigit() and 0 < int(key) <= 65535):
                raise ValueError(f"portLevelMtls key {key!r}: port must be between 1-65535")
        return self


# --- RequestAuthentication ----------------------------------------------------------------


def _http_url(text: str) -> str:
    if urlsplit(text).scheme not in ("http", "https"):
        raise ValueError("url must have scheme http:// or https://")
    return text


JwksUrl = Annotated[str, Field(min_length=1, max_length=2048)]


class JWTHeader(IstioModel):
    """A header the token is read from, and the prefix before it (``Bearer ``)."""

    name: NonEmpty
    prefix: str | None = None


class ClaimToHeader(IstioModel):
    """Copy a claim of the verified token into a request header."""

    header: Annotated[str, Field(min_length=1, pattern=r"^[-_A-Za-z0-9]+$")]
    claim: NonEmpty


class JWTRule(IstioModel):
    """How to verify tokens of one issuer; a request with an invalid token is refused."""

    issuer: NonEmpty | None = None
    audiences: list[NonEmpty] | None = None
    jwks_uri_camel: JwksUrl | None = Field(default=None, alias="jwksUri")
    jwks_uri_snake: JwksUrl | None = Field(default=None, alias="jwks_uri")
    jwks: str | None = None
    from_headers: list[JWTHeader] | None = None
    from_params: list[NonEmpty] | None = None
    from_cookies: list[NonEmpty] | None = None
    output_payload_to_header: str | None = None
    forward_original_token: bool | None = None
    output_claim_to_headers: list[ClaimToHeader] | None = None
    space_delimited_claims: list[NonEmpty] | None = Field(default=None, max_length=64)
    timeout: Duration | None = None
    presence: Literal["OPTIONAL", "REQUIRED"] | None = None

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        sources = (self.jwks_uri_camel, self.jwks_uri_snake, self.jwks)
        if sum(value is not None for value in sources) > 1:
            raise ValueError("only one of jwks or jwksUri can be set")
        for url in sources[:2]:
            if url is not None:
                _http_url(url)
        return self


class RequestAuthenticationSpec(IstioModel):
    """spec of a RequestAuthentication: which JWTs the selected workloads verify."""

    selector: MatchLabelsWorkloadSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: list[PolicyTargetReference] | None = Field(default=None, max_length=16)
    jwt_rules: list[JWTRule] | None = Field(default=None, max_length=4096)

    @model_validator(mode="after")
    def _attachment(self) -> Self:
        _one_attachment(self.selector, self.target_ref, self.target_refs)
        return self
