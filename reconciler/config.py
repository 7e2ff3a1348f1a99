"""``meshrc.yaml``: the repository's own configuration, at the root of the repository.

    paths: [mesh]            folders holding the manifests (default: the whole repository)
    failOn: error            lowest severity that fails a check: error, warning, info, none
    policies: [policies]     folders of Rego policies shipped with the repository
    params: {retries_max: 3} parameters for policies (data.meshrc.params)
    ignore: [subset-without-labels, "host-not-found=VirtualService/legacy/*"]
    targets:                 where `meshrc sync` applies the mesh (see below)
    mesh:                    the mesh's settings, in MeshConfig's names (Istio's defaults):
      rootNamespace: istio-system          mesh-wide Sidecars and PeerAuthentications
      defaultServiceExportTo: ["*"]        also defaultVirtualServiceExportTo,
                                           defaultDestinationRuleExportTo

Options on the command line win over the file. A target is a local Envoy (file-based xDS in
a folder, the layout of a mounted ConfigMap) or a Kubernetes cluster::

    targets:
      - name: local
        type: envoy
        proxy: mesh                  # or <namespace>/<gateway>
        namespace: bookinfo          # the sidecar's namespace
        directory: /var/lib/envoy    # default: <state dir>/envoy/<name>
        endpoints: endpoints.yaml    # Services' instances (see `meshrc render --help`)
        portOffset: 20000            # listen on 29080 for 9080
        adminUrl: http://127.0.0.1:15000   # an Envoy that reads the folder, to confirm
        drift: warn                  # meshrc drift: warn (record, report) or heal
      - name: prod-eu
        type: kubernetes
        context: prod-eu             # of the kubeconfig (default: $KUBECONFIG or ~/.kube/config)
        apply: [istio]               # Istio resources; `envoy` adds the rendered config
        prune: true
      - name: prod-us
        type: kubernetes
        apply: [istio, envoy]        # and ConfigMaps meshrc-envoy-<proxy, / as ->
        proxies: [mesh, shop/web]    # whose (default: every Istio Gateway of the commit)
        proxyNamespace: shop         # the sidecar's, for `mesh` (default: `namespace`)
        xdsDirectory: /etc/envoy/xds # where the Envoys mount their ConfigMap
        credentialsDirectory: /etc/istio/credentials   # where the Gateways' Secrets are

The keys of the rendered configuration are errors without `envoy` in `apply`: they would
silently do nothing.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from reconciler.errors import ConfigError
from reconciler.model.mesh import MeshSettings
from reconciler.render.options import MESH, RenderOptions

CONFIG_FILE = "meshrc.yaml"


class _Target(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    name: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
    paths: list[str] | None = None
    """Manifest folders of this target (default: the repository's ``paths``)."""
    drift: Literal["warn", "heal"] = "warn"
    """What ``meshrc drift`` does with a difference it finds: record and report it, or
    also put back what the last synced commit says."""


class EnvoyTarget(_Target):
    """A local Envoy that reads file-based xDS from a folder."""

    type: Literal["envoy"]
    proxy: str = "mesh"
    namespace: str = "default"
    directory: str | None = None
    endpoints: str | None = None
    port_offset: Annotated[int, Field(ge=0, le=60000)] = Field(0, alias="portOffset")
    admin_url: str | None = Field(None, alias="adminUrl")


PROXY = re.compile(rf"{MESH}|[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?")
"""``mesh``, or an Istio Gateway as ``<namespace>/<name>`` (Kubernetes names)."""
ENVOY_KEYS = ("proxies", "proxy_namespace", "xds_directory", "credentials_directory")
"""The settings of ``apply: [istio, envoy]``."""


class KubernetesTarget(_Target):
    """A Kubernetes cluster, reached through a kubeconfig context or from inside it."""

    type: Literal["kubernetes"]
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = Field(False, alias="inCluster")
    apply: tuple[Literal["istio", "envoy"], ...] = ("istio",)
    namespace: str = "default"
    prune: bool = True
    proxies: tuple[str, ...] | None = None
    """Whose Envoy configuration is applied; None: every Istio Gateway of the commit."""
    proxy_namespace: str | None = Field(None, alias="proxyNamespace")
    """The sidecar's (proxy ``mesh``); None: the target's ``namespace``."""
    xds_directory: str = Field("/etc/envoy/xds", alias="xdsDirectory")
    credentials_directory: str = Field(RenderOptions.credentials_dir, alias="credentialsDirectory")

    @field_validator("apply")
    @classmethod
    def _with_istio(cls, apply: tuple[str, ...]) -> tuple[str, ...]:
        if sorted(apply) not in (["istio"], ["envoy", "istio"]):
            raise ValueError("expected [istio] or [istio, envoy]")
        return tuple(sorted(apply, reverse=True))  # one spelling: ("istio", "envoy")

    @field_validator("proxies")
    @classmethod
    def _proxy_names(cls, proxies: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for proxy in proxies or ():
            if not PROXY.fullmatch(proxy):
                raise ValueError(f"expected {MESH} or <namespace>/<gateway>, not {proxy!r}")
        return proxies

    @model_validator(mode="after")
    def _envoy_keys_need_envoy(self) -> KubernetesTarget:
        given = [
            field.alias or name
            for name, field in type(self).model_fields.items()
            if name in ENVOY_KEYS and name in self.model_fields_set
        ]
        if given and not self.renders_envoy:
            raise ValueError(f"{', '.join(given)}: only with `apply: [istio, envoy]`")
        return self

    @property
    def renders_envoy(self) -> bool:
        return "envoy" in self.apply


Target = Annotated[EnvoyTarget | KubernetesTarget, Field(discriminator="type")]


class RepoConfig(BaseModel):
    """The validated content of ``meshrc.yaml``; unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    paths: list[str] = Field(default_factory=list)
    fail_on: Literal["error", "warning", "info", "none"] | None = Field(None, alias="failOn")
    policies: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    ignore: list[str] = Field(default_factory=list)
    targets: list[Target] = Field(default_factory=list)
    mesh: MeshSettings = Field(default_factory=MeshSettings)

    @field_validator("targets")
    @classmethod
    def _unique_names(cls, targets: list[Target]) -> list[Target]:
        names = [t.name for t in targets]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"target names must be unique: {', '.join(repeated)}")
        return targets

    def target(self, name: str) -> Target:
        for target in self.targets:
            if target.name == name:
                return target
        known = ", ".join(t.name for t in self.targets) or "none"
        raise ConfigError(f"{CONFIG_FILE} has no target {name!r} (targets: {known})")


def parse_config(text: bytes | None, shown_as: str = CONFIG_FILE) -> RepoConfig:
    """Parse ``meshrc.yaml`` (None: no file, the defaults); problems name the file and key."""
    if text is None:
        return RepoConfig()
    try:
        data = yaml.safe_load(text.decode("utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{shown_as}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{shown_as}: expected a mapping of settings")
    try:
        return RepoConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(top)'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise ConfigError(f"{shown_as}: {problems}") from None
