"""The parts of Kubernetes kinds that the checks read: Services and the pods workloads create.

Read leniently (``KubeModel`` ignores unknown fields): a Deployment carries far more than
labels and selectors, and none of it should fail the routing checks. A pod spec (of a Pod or a
pod template) keeps its containers' names, images, users and env (:class:`PodSpec`); a
Namespace needs only its ``metadata``. A Secret has no ``spec``: its model is
built from the top-level ``type``, ``data`` and ``stringData`` (:func:`secret_fields`), and keeps
what the gateway checks need of each value, never the value.
"""

from __future__ import annotations

import base64
import re
import warnings
from typing import Annotated, Any

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from pydantic import BeforeValidator, Field, model_validator

from reconciler.model.base import KubeModel, StringMap

__all__ = [
    "Container",
    "EnvVar",
    "LabelSelector",
    "PodSpec",
    "PodTemplate",
    "PodTemplateMeta",
    "SecretSpec",
    "SecretValue",
    "SecurityContext",
    "ServicePortK8s",
    "ServiceSpec",
    "WorkloadSpec",
    "secret_fields",
    "secret_made_by",
]


class ServicePortK8s(KubeModel):
    """A Service port; ``name``/``appProtocol`` tell Istio the protocol (IST0118)."""

    name: str | None = None
    port: int
    target_port: int | str | None = None
    protocol: str | None = None
    app_protocol: str | None = None


class ServiceSpec(KubeModel):
    """spec of a Service: which pods (``selector``) back which ports."""

    selector: dict[str, str] | None = None
    ports: list[ServicePortK8s] | None = None
    type: str | None = None
    cluster_ip: str | None = Field(default=None, alias="clusterIP")
    external_name: str | None = None


class LabelSelector(KubeModel):
    """A workload's pod selector; ``matchExpressions`` stay raw until a check needs them."""

    match_labels: dict[str, str] | None = None
    match_expressions: list[dict[str, Any]] | None = None


class PodTemplateMeta(KubeModel):
    """metadata of a pod template: the labels subsets and gateway selectors match against."""

    labels: StringMap = Field(default_factory=dict)
    annotations: StringMap = Field(default_factory=dict)


def _int_or_none(value: Any) -> Any:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_or_none(value: Any) -> Any:
    return value if isinstance(value, str) else None


def _object_or_none(value: Any) -> Any:
    return value if isinstance(value, dict) else None


def _objects(value: Any) -> Any:
    """A list of objects; an item that is no object reads as an empty one, so indexes (and the
    field paths findings name) stay those of the file."""
    if not isinstance(value, list):
        return []
    return [item if isinstance(item, dict) else {} for item in value]


_Int = Annotated[int | None, BeforeValidator(_int_or_none)]
_Str = Annotated[str | None, BeforeValidator(_str_or_none)]
"""Pod spec fields are read even leniently-er than the rest: a value of the wrong type reads as
absent, so that nothing in a pod spec can make its workload invalid for the routing checks."""


class SecurityContext(KubeModel):
    """The securityContext of a pod or container: the user it runs as (IST0144)."""

    run_as_user: _Int = None


class EnvVar(KubeModel):
    """An env entry of a container; ``valueFrom`` is not read."""

    name: _Str = None
    value: _Str = None


class Container(KubeModel):
    """A container: its name and image (is it Istio's proxy?), user and environment."""

    name: _Str = None
    image: _Str = None
    security_context: Annotated[SecurityContext | None, BeforeValidator(_object_or_none)] = None
    env: Annotated[list[EnvVar], BeforeValidator(_objects)] = Field(default_factory=list)


class PodSpec(KubeModel):
    """spec of a Pod or of a pod template: what the workload checks read of it."""

    security_context: Annotated[SecurityContext | None, BeforeValidator(_object_or_none)] = None
    containers: Annotated[list[Container], BeforeValidator(_objects)] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _object(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else {}


class PodTemplate(KubeModel):
    """A pod template: the pods' metadata and spec."""

    metadata: PodTemplateMeta = Field(default_factory=PodTemplateMeta)
    spec: PodSpec = Field(default_factory=PodSpec)


class WorkloadSpec(KubeModel):
    """spec of a Deployment, StatefulSet, DaemonSet or ReplicaSet.

    ``replicas`` is kept because a workload scaled to 0 selects no pods; it is absent for a
    DaemonSet and defaults to 1 on the others.
    """

    replicas: int | None = None
    selector: LabelSelector | None = None
    template: PodTemplate = Field(default_factory=PodTemplate)


class SecretValue(KubeModel):
    """What the checks may know of one value of a Secret, never the value itself.

    ``empty`` and ``certificate`` (its first PEM certificate block is an X.509 certificate) are
    None when the value cannot be read: base64 that does not decode, or a Secret encrypted by
    SOPS.
    """

    empty: bool | None = None
    certificate: bool | None = None


UNREADABLE = SecretValue()

_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN ((?:X509 |TRUSTED )?CERTIFICATE)-----\r?\n(.*?)-----END \1-----", re.DOTALL
)


def _is_certificate(data: bytes) -> bool | None:
    """Whether the first PEM certificate block of ``data`` parses as an X.509 certificate, as
    Envoy reads a chain (other blocks, such as a key put first, are skipped); None when it has
    PEM headers, which meshrc does not read. Validity dates are not judged: a check's result
    must not change with the day it runs."""
    block = _PEM_CERTIFICATE.search(data)
    if block is None:
        return False
    body = block.group(2)
    if b":" in body or block.group(1).startswith(b"TRUSTED"):
        return None  # headers, or OpenSSL's trusted form (certificate and trust settings)
    try:
        with warnings.catch_warnings():  # e.g. a non-positive serial: Envoy takes those
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            x509.load_der_x509_certificate(base64.b64decode(b"".join(body.split()), validate=True))
    except ValueError:  # base64 (binascii.Error is one) or DER that is no certificate
        return False
    return True


def _facts(data: bytes) -> SecretValue:
    return SecretValue(empty=not data, certificate=_is_certificate(data))


def _from_base64(value: Any) -> Any:
    """A value of ``data``: base64, which the API server decodes (line breaks ignored)."""
    if value is None:
        return SecretValue(empty=True, certificate=False)
    if not isinstance(value, str):
        return UNREADABLE
    try:
        decoded = base64.b64decode(value.replace("\n", "").replace("\r", ""), validate=True)
    except ValueError:  # binascii.Error: encrypted, or a template placeholder
        return UNREADABLE
    return _facts(decoded)


def _from_text(value: Any) -> Any:
    """A value of ``stringData``: the text itself."""
    if value is None:
        return SecretValue(empty=True, certificate=False)
    if not isinstance(value, str):
        return UNREADABLE
    return _facts(value.encode("utf-8", errors="replace"))


def _mapping_or_empty(value: Any) -> Any:
    """Values that are not what the API server takes are read as unreadable, never reported:
    a schema finding would quote them, and a Secret's values never appear in a finding."""
    return value if isinstance(value, dict) else {}


_Key = Annotated[str, BeforeValidator(str)]
"""A key as YAML wrote it: ``1: x`` is the key ``1``."""
_Base64Values = Annotated[
    dict[_Key, Annotated[SecretValue, BeforeValidator(_from_base64)]],
    BeforeValidator(_mapping_or_empty),
]
_TextValues = Annotated[
    dict[_Key, Annotated[SecretValue, BeforeValidator(_from_text)]],
    BeforeValidator(_mapping_or_empty),
]


class SecretSpec(KubeModel):
    """A Secret as the gateway credential checks read it: its type and, per key, what may be
    known of the value. ``encrypted`` (a SOPS document) makes every value unreadable."""

    type: str | None = None
    data: _Base64Values = Field(default_factory=dict)
    string_data: _TextValues = Field(default_factory=dict)
    encrypted: bool = False

    def value(self, key: str) -> SecretValue | None:
        """The value of ``key`` as the API server stores it (``stringData`` over ``data``),
        None when the Secret has no such key."""
        found = self.string_data.get(key, self.data.get(key))
        if found is None or not self.encrypted:
            return found
        return UNREADABLE


def secret_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The fields of a Secret document that :class:`SecretSpec` reads (a Secret has no spec)."""
    fields: dict[str, Any] = {k: body[k] for k in ("type", "data", "stringData") if k in body}
    return {**fields, "encrypted": "sops" in body}


_SECRET_MAKERS = frozenset({"Certificate", "SealedSecret", "ExternalSecret"})


def secret_made_by(body: Any, default_namespace: str) -> tuple[str, str] | None:
    """(namespace, name) of the Secret an object of a controller's kind makes, if it is one:
    a cert-manager Certificate (``spec.secretName``), a Bitnami SealedSecret or an External
    Secrets ExternalSecret (``spec.target.name``, else the object's name)."""
    kind = body.get("kind") if isinstance(body, dict) else None
    if not isinstance(kind, str) or kind not in _SECRET_MAKERS:
        return None
    api_version = body.get("apiVersion")
    meta, spec = body.get("metadata"), body.get("spec")
    if not (isinstance(kind, str) and isinstance(api_version, str) and isinstance(meta, dict)):
        return None
    group = api_version.rpartition("/")[0]
    spec = spec if isinstance(spec, dict) else {}
    name: Any = None
    if (group, kind) == ("cert-manager.io", "Certificate"):
        name = spec.get("secretName")
    elif (group, kind) == ("bitnami.com", "SealedSecret"):
        template = spec.get("template")
        template_meta = template.get("metadata") if isinstance(template, dict) else None
        name = template_meta.get("name") if isinstance(template_meta, dict) else None
        name = name or meta.get("name")
    elif (group, kind) == ("external-secrets.io", "ExternalSecret"):
        target = spec.get("target")
        name = (target.get("name") if isinstance(target, dict) else None) or meta.get("name")
    namespace = meta.get("namespace") or default_namespace
    if isinstance(name, str) and name and isinstance(namespace, str):
        return namespace, name
    return None
