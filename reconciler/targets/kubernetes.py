"""A Kubernetes cluster target: a commit's Istio resources (and with ``apply: [istio,
envoy]`` the ConfigMaps of :mod:`reconciler.targets.envoy_configmaps`) applied to an API
server as ``kubectl apply --server-side`` would, in an order that never routes to a subset
that is not there yet, with an inventory in the cluster that says what meshrc put there.

    server-side apply  field manager ``meshrc``: a field another manager owns is a conflict
                       (HTTP 409), taken over only when asked (``force``)
    ownership          label app.kubernetes.io/managed-by=meshrc; annotations
                       meshrc.io/repository, meshrc.io/target and meshrc.io/commit (the commit
                       that last changed the object)
    inventory          ConfigMap ``meshrc-inventory-<target>`` in the target's namespace: the
                       objects applied (apiVersion, kind, namespace, name, content hash), the
                       commit, a hash of the whole, and a key of the files they were read from
    preflight          every change is first sent as a server-side dry run: a conflict, a
                       schema rejection (422) or a missing CRD (404) fails the sync before
                       anything is written
    order              ServiceEntries and WorkloadEntries; DestinationRules holding their live
                       and their new subsets; Gateways; VirtualServices; Envoy ConfigMaps;
                       VirtualServices that left Git deleted; DestinationRules trimmed to
                       their new subsets; the rest of what left Git deleted (Istio's
                       make-before-break advice)
    write-ahead        before the first write the inventory lists the changes as pending, so
                       that a sync cut short (the API server gone) still says what may have
                       changed, and the next sync re-applies it
    rollback           when a step fails, every object touched so far is put back as it was
                       read before the first write (the last phase first), those the sync
                       created are deleted, and the inventory is restored
    concurrency        the objects of one phase, and the dry runs, go ``WORKERS`` at a time

Errors of the client (HTTP statuses, unreachable servers, kubeconfigs) become
:class:`~reconciler.errors.TargetError` here, naming the server's URL and never a credential.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException

from reconciler import __version__
from reconciler.config import ENVOY_KEYS, KubernetesTarget
from reconciler.errors import TargetError
from reconciler.model.resources import ISTIO_GROUP
from reconciler.source.git import safe_url
from reconciler.source.loading import Document, SourceFile

FIELD_MANAGER = "meshrc"
MANAGED_BY = "app.kubernetes.io/managed-by"
REPOSITORY = "meshrc.io/repository"
TARGET = "meshrc.io/target"
COMMIT = "meshrc.io/commit"
INVENTORY_PREFIX = "meshrc-inventory-"
INVENTORY_OBJECTS = "objects.json.gz"
INVENTORY_LIMIT = 1_000_000
"""Bytes of the gzipped listing: a ConfigMap holds 1 MiB."""
FORMAT = "meshrc-kubernetes/1"
"""How desired objects are made from documents: part of the source key, so a change here
makes every target plan again."""
APPLY = "application/apply-patch+yaml"
TIMEOUT = 30.0
SHOWN_ERRORS = 5

PLURALS = {
    "ServiceEntry": "serviceentries",
    "WorkloadEntry": "workloadentries",
    "DestinationRule": "destinationrules",
    "Gateway": "gateways",
    "VirtualService": "virtualservices",
}
CONFIG_MAP = "ConfigMap"
"""The kind of rendered Envoy configuration (core API group, not in ``PLURALS``)."""
APPLY_ORDER = (
    "ServiceEntry",
    "WorkloadEntry",
    "DestinationRule",
    "Gateway",
    "VirtualService",
    CONFIG_MAP,
)
PRUNE_ORDER = (
    "VirtualService",
    CONFIG_MAP,
    "DestinationRule",
    "Gateway",
    "ServiceEntry",
    "WorkloadEntry",
)

WORKERS = 4
"""Requests in flight at once: an API server answers a few together faster than one after
the other (1.6 times as many dry runs a second as one by one, on 2 cores)."""

Action = Literal["apply", "delete"]
WriteHook = Callable[[Action, "ObjectRef"], None]
"""Called before each write of a sync to an object (not of a dry run or a rollback), in the
thread that makes it."""
Step = tuple[Action, "Entry", dict[str, Any] | None]
"""What to do to one object: apply a body, or delete it (None)."""
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, order=True)
class ObjectRef:
    """An object of the cluster, by kind, namespace and name (an Istio kind, or a
    ConfigMap)."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class Entry:
    """An object the inventory lists: what it was applied as, and a hash of that."""

    ref: ObjectRef
    api_version: str
    hash: str
    """Empty when unknown: the object may have been changed by a sync that did not finish."""


@dataclass(frozen=True)
class DesiredObject:
    """An object as the commit wants it: the document as written (or a rendered ConfigMap),
    with its namespace and meshrc's label and annotations."""

    entry: Entry
    body: dict[str, Any]
    origin: str
    """``file:line`` of the document, or what the object was rendered from."""

    @property
    def ref(self) -> ObjectRef:
        return self.entry.ref


def desired_objects(
    documents: Iterable[Document], target: KubernetesTarget, repository: str, commit: str
) -> dict[ObjectRef, DesiredObject]:
    """The Istio objects of ``documents`` for ``target``; other kinds are not applied."""
    found: dict[ObjectRef, DesiredObject] = {}
    for doc in documents:
        body = doc.body
        if not isinstance(body, dict) or body.get("kind") not in PLURALS:
            continue
        api_version = body.get("apiVersion")
        if not isinstance(api_version, str) or not api_version.startswith(ISTIO_GROUP + "/"):
            continue
        origin = f"{doc.file}:{doc.line}"
        meta = body.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(meta, dict) or not isinstance(name, str) or not name:
            raise TargetError(f"{origin}: a {body['kind']} without metadata.name")
        ref = ObjectRef(body["kind"], str(meta.get("namespace") or target.namespace), name)
        if ref in found:
            raise TargetError(f"{ref} is written twice, at {found[ref].origin} and {origin}")
        found[ref] = owned_object(ref, api_version, body, origin, target, repository, commit)
    return found


def owned_object(
    ref: ObjectRef,
    api_version: str,
    body: dict[str, Any],
    origin: str,
    target: KubernetesTarget,
    repository: str,
    commit: str,
) -> DesiredObject:
    """``body`` as ``ref`` with meshrc's label and annotations, hashed without the commit: an
    object a new commit does not change is left alone."""
    meta = body.get("metadata") or {}
    owned = {
        **body,
        "metadata": {
            **meta,
            "namespace": ref.namespace,
            "labels": {**(meta.get("labels") or {}), MANAGED_BY: FIELD_MANAGER},
            "annotations": {
                **(meta.get("annotations") or {}),
                REPOSITORY: repository,
                TARGET: target.name,
            },
        },
    }
    try:
        digest = hashlib.sha256(_canonical(owned)).hexdigest()[:16]
    except (TypeError, ValueError) as exc:
        raise TargetError(f"{origin}: {ref} cannot be sent as JSON: {exc}") from None
    owned["metadata"]["annotations"][COMMIT] = commit
    return DesiredObject(Entry(ref, api_version, digest), owned, origin)


def source_key(target: KubernetesTarget, repository: str, files: Iterable[SourceFile]) -> str:
    """A hash of everything the plan is made of that is not in the cluster: the same key
    means the same objects, so an unchanged tree is a no-op without reading a file.

    What this fast no-op sees: the files, the target's settings (those of the rendered
    configuration too) and, when it renders, meshrc's version. What it cannot see: the
    cluster. The Envoy ConfigMaps hold the endpoints of the cluster's Pods, which the key
    leaves out (reading them is what the fast path saves); Pods that came or went since are
    picked up by the next sync that plans (one whose files or settings changed), as the
    ConfigMaps' hashes include the endpoints."""
    digest = hashlib.sha256()
    settings = [FORMAT, target.name, target.namespace, target.prune, repository]
    if target.renders_envoy:  # an Istio-only target keeps the key it had before these
        envoy = target.model_dump(mode="json", include=set(ENVOY_KEYS))
        settings += [envoy, __version__]
    digest.update(_canonical(settings))
    for source in sorted(files, key=lambda f: f.path):
        digest.update(f"\0{source.path}\0{source.blob_id}".encode())
    return digest.hexdigest()


def content_hash(objects: Iterable[Entry]) -> str:
    """One hash of a set of objects, whatever their order."""
    digest = hashlib.sha256()
    for entry in sorted(objects, key=lambda e: e.ref):
        digest.update(f"{entry.ref}\0{entry.api_version}\0{entry.hash}\0".encode())
    return digest.hexdigest()


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Inventory:
    """What meshrc put in one cluster for one target, as its ConfigMap says."""

    target: str
    namespace: str
    commit: str | None
    """The commit of the last sync that finished; None before the first."""
    repository: str
    source_key: str
    content_hash: str
    objects: tuple[Entry, ...] = ()
    pending: str | None = None
    """The commit of a sync that started writing and did not finish."""
    pending_objects: tuple[Entry, ...] = ()
    """What that sync may have changed."""

    @property
    def name(self) -> str:
        return inventory_name(self.target)

    def settled(self, key: str) -> bool:
        """Nothing pending, and made from the same files: the cluster runs what they say."""
        return self.pending is None and self.source_key == key

    def known(self) -> dict[ObjectRef, Entry]:
        """The objects meshrc may have put there; those of an unfinished sync with no hash."""
        known = {entry.ref: entry for entry in self.objects}
        for entry in self.pending_objects:
            known[entry.ref] = Entry(entry.ref, entry.api_version, "")
        return known

    def configmap(self) -> dict[str, Any]:
        """The ConfigMap that holds this inventory (the listing gzipped: 10,000 services'
        objects would not fit a ConfigMap's 1 MiB as text)."""
        data = {
            "commit": self.commit or "",
            "repository": self.repository,
            "sourceKey": self.source_key,
            "contentHash": self.content_hash,
            "objects": str(len(self.objects)),
        }
        if self.pending is not None:
            data["pending"] = self.pending
        listing = {
            "objects": [_row(e) for e in sorted(self.objects, key=lambda e: e.ref)],
            "pending": [_row(e) for e in sorted(self.pending_objects, key=lambda e: e.ref)],
        }
        packed = gzip.compress(_canonical(listing), mtime=0)
        if len(packed) > INVENTORY_LIMIT:  # 14 bytes an object: about 70,000 objects
            raise TargetError(
                f"the inventory of {len(listing['objects']) + len(listing['pending'])} objects "
                f"is too large for a ConfigMap ({len(packed)} bytes gzipped)"
            )
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {MANAGED_BY: FIELD_MANAGER},
                "annotations": {
                    REPOSITORY: self.repository,
                    TARGET: self.target,
                    COMMIT: self.commit or "",
                },
            },
            "data": data,
            "binaryData": {INVENTORY_OBJECTS: base64.b64encode(packed).decode()},
        }

    @classmethod
    def from_configmap(cls, target: str, namespace: str, configmap: dict[str, Any]) -> Inventory:
        data = configmap.get("data") or {}
        try:
            packed = base64.b64decode((configmap.get("binaryData") or {})[INVENTORY_OBJECTS])
            listing = json.loads(gzip.decompress(packed))
            return cls(
                target=target,
                namespace=namespace,
                commit=data["commit"] or None,
                repository=data.get("repository", ""),
                source_key=data.get("sourceKey", ""),
                content_hash=data.get("contentHash", ""),
                objects=tuple(_entry(row) for row in listing["objects"]),
                pending=data.get("pending"),
                pending_objects=tuple(_entry(row) for row in listing["pending"]),
            )
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise TargetError(
                f"the inventory ConfigMap {namespace}/{inventory_name(target)} is damaged "
                f"({type(exc).__name__}: {exc}); delete it to start again (meshrc then applies "
                "every object of the next commit, and prunes nothing)"
            ) from None


def inventory_name(target: str) -> str:
    return INVENTORY_PREFIX + target


def _row(entry: Entry) -> list[str]:
    ref = entry.ref
    return [entry.api_version, ref.kind, ref.namespace, ref.name, entry.hash]


def _entry(row: list[str]) -> Entry:
    api_version, kind, namespace, name, digest = row
    return Entry(ObjectRef(kind, namespace, name), api_version, digest)


@dataclass(frozen=True)
class Plan:
    """What a sync changes in a cluster: desired objects against the inventory's hashes."""

    create: tuple[DesiredObject, ...] = ()
    configure: tuple[DesiredObject, ...] = ()
    delete: tuple[Entry, ...] = ()
    unchanged: int = 0
    kept: tuple[Entry, ...] = ()
    """Objects that left Git but stay in the cluster (``prune: false``): still listed."""

    @classmethod
    def of(
        cls, desired: Mapping[ObjectRef, DesiredObject], inventory: Inventory | None, prune: bool
    ) -> Plan:
        known = inventory.known() if inventory else {}
        create, configure, unchanged = [], [], 0
        for ref, wanted in sorted(desired.items()):
            was = known.get(ref)
            if was is None:
                create.append(wanted)
            elif was.hash != wanted.entry.hash:
                configure.append(wanted)
            else:
                unchanged += 1
        left = tuple(entry for ref, entry in sorted(known.items()) if ref not in desired)
        return cls(
            tuple(create),
            tuple(configure),
            left if prune else (),
            unchanged,
            () if prune else left,
        )

    @property
    def empty(self) -> bool:
        return not (self.create or self.configure or self.delete)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.create),
            "configured": len(self.configure),
            "unchanged": self.unchanged,
            "deleted": len(self.delete),
        }

    def summary(self) -> str:
        """``2 created, 1 configured, 7 unchanged, 1 deleted`` (the parts that are not 0)."""
        shown = [f"{n} {what}" for what, n in self.counts.items() if n]
        return ", ".join(shown) or "nothing"

    def lines(self) -> list[str]:
        """One line per change: applies by kind in the order they are made, then deletes."""
        changes = sorted(
            [("create", d.entry) for d in self.create]
            + [("configure", d.entry) for d in self.configure],
            key=lambda change: (APPLY_ORDER.index(change[1].ref.kind), change[1].ref),
        )
        deletes = sorted(self.delete, key=lambda e: (PRUNE_ORDER.index(e.ref.kind), e.ref))
        return [f"{verb} {entry.ref}" for verb, entry in changes] + [
            f"delete {entry.ref}" for entry in deletes
        ]

    def changed(self) -> tuple[Entry, ...]:
        """Every object this plan writes or deletes."""
        return (*(d.entry for d in self.create), *(d.entry for d in self.configure), *self.delete)


class Refused(TargetError):
    """The API server answered a request with an error: it is up, and said no."""


def api_client(
    kubeconfig: str | None, context: str | None, in_cluster: bool, user: str
) -> kubernetes.client.ApiClient:
    """A client as the kubeconfig's context (default $KUBECONFIG, else ~/.kube/config) or the
    pod's service account reaches its API server; a TargetError starting with ``user`` (who
    wants it) when that configuration cannot be used."""
    configuration = kubernetes.client.Configuration()
    path = os.path.expanduser(kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config")
    where = "the in-cluster service account" if in_cluster else f"kubeconfig {path}"
    if context and not in_cluster:
        where += f" (context {context})"
    try:
        if in_cluster:
            kubernetes.config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
        else:
            kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
    except (kubernetes.config.ConfigException, OSError, ValueError) as exc:
        raise TargetError(f"{user}: cannot use {where}: {exc}") from None
    return kubernetes.client.ApiClient(configuration)


class Cluster:
    """One API server, through the official client, as the target's kubeconfig context (or
    its pod's service account) reaches it."""

    def __init__(self, target: KubernetesTarget, kubeconfig: str | None = None) -> None:
        """``kubeconfig`` overrides the target's (and its ``inCluster``)."""
        in_cluster = target.in_cluster and kubeconfig is None
        self._api = api_client(
            kubeconfig or target.kubeconfig, target.context, in_cluster, f"target {target.name}"
        )
        self.server = safe_url(str(self._api.configuration.host))

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self._api.close()  # type: ignore[no-untyped-call]

    def read_inventory(self, target: KubernetesTarget) -> Inventory | None:
        """The target's inventory; None before its first sync."""
        where = _configmap(target.namespace, inventory_name(target.name))
        _, found = self._request("GET", where, absent_ok=True)
        if found is None:
            return None
        return Inventory.from_configmap(target.name, target.namespace, found)

    def write_inventory(self, inventory: Inventory) -> None:
        where = _configmap(inventory.namespace, inventory.name)
        self._request("PATCH", where, inventory.configmap(), force=True)

    def delete_inventory(self, target: str, namespace: str) -> None:
        self._request("DELETE", _configmap(namespace, inventory_name(target)), absent_ok=True)

    def apply(
        self, entry: Entry, body: dict[str, Any], *, force: bool, dry_run: bool = False
    ) -> bool:
        """Server-side apply ``body`` as meshrc; True when it created (or, in a dry run,
        would create) the object."""
        status, _ = self._request("PATCH", _object(entry), body, force=force, dry_run=dry_run)
        return status == 201

    def get(self, entry: Entry) -> dict[str, Any] | None:
        """The object as the cluster holds it; None when there is none."""
        _, found = self._request("GET", _object(entry), absent_ok=True)
        return found if isinstance(found, dict) else None

    def delete(self, entry: Entry) -> None:
        """Delete the object; one that is gone already is no error."""
        self._request("DELETE", _object(entry), absent_ok=True)

    def create_event(self, namespace: str, event: dict[str, Any]) -> None:
        """Create a core v1 Event in ``namespace``."""
        where = _Resource(f"/api/v1/namespaces/{quote(namespace, safe='')}/events", "an Event")
        self._request("POST", where, event, content_type="application/json")

    def list_items(self, path: str, shown: str) -> list[dict[str, Any]]:
        """The items of a list (``/api/v1/pods``: of every namespace), as the API serves them."""
        _, found = self._request("GET", _Resource(path, shown))
        items: list[dict[str, Any]] = found["items"]
        return items

    def _request(
        self,
        method: str,
        resource: _Resource,
        body: Any = None,
        *,
        force: bool = False,
        dry_run: bool = False,
        absent_ok: bool = False,
        content_type: str = APPLY,
    ) -> tuple[int, Any]:
        """One request as the target's user (a bearer token, if any, refreshed by the
        client): the status and the decoded JSON, ``(404, None)`` when ``absent_ok``. A
        PATCH is a server-side apply.

        Not through the client's typed APIs: importing CoreV1Api alone takes 0.3 s (a no-op
        sync takes less), and they validate every argument, bodies too, on each call."""
        query = [("fieldManager", FIELD_MANAGER), ("force", "true" if force else "false")]
        if dry_run:
            query.append(("dryRun", "All"))
        request = self._api.param_serialize(
            method,
            resource.path,
            query_params=query if method == "PATCH" else None,
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self._api.call_api(*request, _request_timeout=TIMEOUT)
            response.read()  # type: ignore[no-untyped-call]
            answer = self._api.response_deserialize(response, {"2XX": "object"})
        except ApiException as exc:
            if absent_ok and exc.status == 404:
                return 404, None
            raise Refused(f"{resource.shown}: {_explain(exc, resource.path)}") from None
        except urllib3.exceptions.HTTPError as exc:
            reason = re.sub(r"^<[^>]*>: ", "", str(getattr(exc, "reason", None) or exc))
            raise TargetError(f"the API server {self.server} is unreachable: {reason}") from None
        except kubernetes.config.ConfigException as exc:  # a token's refresh (exec plugins)
            raise TargetError(f"no credentials for the API server {self.server}: {exc}") from None
        return answer.status_code, answer.data


@dataclass(frozen=True)
class _Resource:
    """Where a request goes, and how messages name what is there."""

    path: str
    shown: str


def _object(entry: Entry) -> _Resource:
    ref = entry.ref
    if ref.kind == CONFIG_MAP:
        return _configmap(ref.namespace, ref.name)
    path = (
        f"/apis/{entry.api_version}/namespaces/{quote(ref.namespace, safe='')}/"
        f"{PLURALS[ref.kind]}/{quote(ref.name, safe='')}"
    )
    return _Resource(path, str(ref))


def _configmap(namespace: str, name: str) -> _Resource:
    path = f"/api/v1/namespaces/{quote(namespace, safe='')}/configmaps/{quote(name, safe='')}"
    return _Resource(path, f"ConfigMap {namespace}/{name}")


def _explain(exc: ApiException, path: str) -> str:
    """What the server's answer says, in a line: its Status message, or each conflicting
    field with the manager that owns it, or the resource type it does not serve."""
    try:
        status = json.loads(exc.body or "")
    except ValueError:
        status = None
    if not isinstance(status, dict):
        parts = path.split("/")  # /apis/GROUP/VERSION/namespaces/NAMESPACE/PLURAL/NAME
        if exc.status == 404 and parts[1] == "apis":
            group, version, plural = parts[2], parts[3], parts[6]
            return (
                f"the API server does not serve {group}/{version} {plural}: "
                f"is the CRD {plural}.{group} installed?"
            )
        return f"HTTP {exc.status} {exc.reason}"
    causes = (status.get("details") or {}).get("causes") or []
    conflicts = [
        f"{cause.get('field')} (owned by {_manager(cause.get('message', ''))})"
        for cause in causes
        if cause.get("reason") == "FieldManagerConflict"
    ]
    if exc.status == 409 and conflicts:
        return (
            f"conflict with another field manager on {', '.join(conflicts)}: "
            "--force-conflicts takes these fields over"
        )
    return f"{status.get('message') or exc.reason} (HTTP {exc.status})"


def _manager(message: str) -> str:
    """``conflict with "kubectl" using networking.istio.io/v1`` -> ``"kubectl"``."""
    found = re.search(r'conflict with ("[^"]*")', message)
    return found.group(1) if found else message


def preflight(cluster: Cluster, plan: Plan, force: bool) -> set[ObjectRef]:
    """Send every change as a server-side dry run, so that a conflict, a rejection or a
    missing CRD fails the sync before anything is written; the objects that exist already.

    Raises TargetError naming every refusal, with the file each object comes from."""

    def dry_run(wanted: DesiredObject) -> tuple[bool, str | None]:
        try:
            return cluster.apply(wanted.entry, wanted.body, force=force, dry_run=True), None
        except Refused as exc:
            return False, f"{exc} ({wanted.origin})"

    changes = (*plan.create, *plan.configure)
    answers = _each(dry_run, changes)
    refusals = [refusal for _, refusal in answers if refusal is not None]
    if refusals:
        more = len(refusals) - SHOWN_ERRORS
        raise TargetError(
            f"the API server {cluster.server} refuses {len(refusals)} of {len(changes)} "
            f"change(s), so none was applied: {'; '.join(refusals[:SHOWN_ERRORS])}"
            + (f"; and {more} more" if more > 0 else "")
        )
    return {
        wanted.ref for wanted, (created, _) in zip(changes, answers, strict=True) if not created
    }


def pending_inventory(inventory: Inventory | None, settled: Inventory, plan: Plan) -> Inventory:
    """The inventory written before the first write: what it listed, and every object the
    plan (and any sync before it that did not finish) may change."""
    base = inventory or replace(settled, commit=None, source_key="", content_hash="", objects=())
    pending = {entry.ref: entry for entry in base.pending_objects}
    pending.update((entry.ref, entry) for entry in plan.changed())
    return replace(
        base,
        pending=settled.commit,
        pending_objects=tuple(sorted(pending.values(), key=lambda e: e.ref)),
    )


@dataclass
class Rollout:
    """A plan applied to a cluster in make-before-break order; :meth:`undo` puts back what
    it changed."""

    cluster: Cluster
    plan: Plan
    inventory: Inventory | None
    """The inventory before the sync: restored by :meth:`undo`."""
    settled: Inventory
    """The inventory once every change is made."""
    force: bool = False
    hook: WriteHook | None = None
    live: dict[ObjectRef, dict[str, Any] | None] = field(default_factory=dict)
    """Every object the plan changes, as it was before the first write (None: absent)."""
    touched: list[list[Entry]] = field(default_factory=list)
    """The objects each phase so far wrote (or may have)."""
    started: bool = False
    """The pending inventory was written: from here on, :meth:`undo` has work to do."""

    def run(self, existing: set[ObjectRef]) -> None:
        """Read what is there, write the pending inventory, make every change, then write
        the settled one. ``existing``: the objects to create that the preflight found."""
        self.live = {wanted.ref: None for wanted in self.plan.create}
        there = [
            *(wanted.entry for wanted in self.plan.create if wanted.ref in existing),
            *(wanted.entry for wanted in self.plan.configure),
            *self.plan.delete,
        ]
        self.live.update(zip((e.ref for e in there), _each(self.cluster.get, there), strict=True))
        self.cluster.write_inventory(pending_inventory(self.inventory, self.settled, self.plan))
        self.started = True
        for phase in self._phases():
            self.touched.append([])
            _each(self._write, phase)
        self.cluster.write_inventory(self.settled)

    def undo(self) -> None:
        """Put every object touched back as it was read before the first write (delete those
        that were not there), the last phase first: undone in that order, a make-before-break
        sequence stays one. Then the inventory."""
        done: set[ObjectRef] = set()
        for phase in reversed(self.touched):
            entries = {entry.ref: entry for entry in phase if entry.ref not in done}
            done.update(entries)
            _each(self._restore, list(entries.values()))
        if not self.started:
            return
        if self.inventory is None:
            self.cluster.delete_inventory(self.settled.target, self.settled.namespace)
        else:
            self.cluster.write_inventory(self.inventory)

    def _write(self, step: Step) -> None:
        action, entry, body = step
        if self.hook is not None:
            self.hook(action, entry.ref)
        self.touched[-1].append(entry)  # before the request: its answer may be lost
        try:
            if body is None:
                self.cluster.delete(entry)
            else:
                self.cluster.apply(entry, body, force=self.force)
        except Refused:
            self.touched[-1].remove(entry)  # the server said no: it changed nothing
            raise

    def _restore(self, entry: Entry) -> None:
        before = self.live.get(entry.ref)
        if before is None:
            self.cluster.delete(entry)
        else:
            self.cluster.apply(entry, _restorable(before), force=True)

    def _phases(self) -> list[list[Step]]:
        """The writes, phase by phase: a phase's writes are made together, and only once
        every write of the phase before it is done."""
        applies: dict[str, list[DesiredObject]] = {kind: [] for kind in APPLY_ORDER}
        for wanted in sorted((*self.plan.create, *self.plan.configure), key=lambda d: d.ref):
            applies[wanted.ref.kind].append(wanted)
        deletes: dict[str, list[Step]] = {kind: [] for kind in PRUNE_ORDER}
        for entry in sorted(self.plan.delete, key=lambda e: e.ref):
            deletes[entry.ref.kind].append(("delete", entry, None))
        phases: list[list[Step]] = []
        trims: list[Step] = []
        for kind in APPLY_ORDER:
            phase: list[Step] = []
            for wanted in applies[kind]:
                union = None
                if kind == "DestinationRule":
                    union = _with_dropped_subsets(wanted.body, self.live.get(wanted.ref))
                if union is not None:
                    trims.append(("apply", wanted.entry, wanted.body))
                phase.append(("apply", wanted.entry, union or wanted.body))
            phases.append(phase)
        # A VirtualService that left Git may still route to a subset about to be trimmed.
        phases += [deletes["VirtualService"], trims]
        phases += [deletes[kind] for kind in PRUNE_ORDER[1:]]
        return [phase for phase in phases if phase]


def _each(function: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``function`` of every item, ``WORKERS`` at a time, in order; after a failure, no
    item is started and the first failure (in order) is raised."""
    if len(items) < 2:
        return [function(item) for item in items]
    with ThreadPoolExecutor(min(WORKERS, len(items))) as pool:
        futures = [pool.submit(function, item) for item in items]
        try:
            return [future.result() for future in futures]
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def _with_dropped_subsets(
    body: dict[str, Any], live: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The DestinationRule ``body`` also holding the subsets its live version has and it
    drops, while routes may still send traffic to them; None when it drops none."""
    if live is None:
        return None
    spec = body.get("spec") or {}
    subsets = spec.get("subsets") or []
    names = {subset.get("name") for subset in subsets if isinstance(subset, dict)}
    dropped = [
        subset
        for subset in (live.get("spec") or {}).get("subsets") or []
        if isinstance(subset, dict) and subset.get("name") not in names
    ]
    if not dropped:
        return None
    return {**body, "spec": {**spec, "subsets": [*subsets, *dropped]}}


def _restorable(live: dict[str, Any]) -> dict[str, Any]:
    """A live object as a body to apply: without status and the server's metadata."""
    meta = live.get("metadata") or {}
    kept = {key: meta[key] for key in ("name", "namespace", "labels", "annotations") if key in meta}
    return {**{k: v for k, v in live.items() if k != "status"}, "metadata": kept}
