"""The input document: the contract's keys only, namespaces filled in, an index by name."""

from __future__ import annotations

from reconciler.policy.inputs import LAST_APPLIED, build_input
from reconciler.source.loading import Document

SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {
        "name": "token",
        "annotations": {LAST_APPLIED: '{"data": {"token": "c2VjcmV0"}}', "team": "a"},
        "managedFields": [{"manager": "kubectl"}],
    },
    "data": {"token": "c2VjcmV0"},
    "stringData": {"password": "hunter2"},
}
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "reviews", "namespace": "shop"},
    "spec": {"ports": [{"port": 9080}]},
    "status": {"loadBalancer": {}},
}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}


def _input() -> dict[str, object]:
    documents = [
        Document("a.yaml", 0, 1, SECRET),
        Document("a.yaml", 1, 14, SERVICE),
        Document("b.yaml", 0, 1, NAMESPACE),
        Document("b.yaml", 1, 5, ["not", "an", "object"]),
        Document("b.yaml", 2, 9, SERVICE),  # the same name again: the index keeps the first
    ]
    return build_input(documents, "prod", {"id": "abc", "ref": "main"})


def test_only_the_contract_keys_are_sent_and_secret_data_never() -> None:
    document = _input()
    secret, service, namespace, again = document["resources"]  # type: ignore[misc]
    assert set(secret) == {"apiVersion", "kind", "metadata", "source"}
    assert "c2VjcmV0" not in str(secret) and "hunter2" not in str(secret)
    assert secret["metadata"] == {
        "name": "token",
        "annotations": {"team": "a"},
        "namespace": "prod",
    }
    assert set(service) == {"apiVersion", "kind", "metadata", "spec", "source"}
    assert service["source"] == {"file": "a.yaml", "line": 14}
    assert "namespace" not in namespace["metadata"]
    assert again["source"] == {"file": "b.yaml", "line": 9}
    assert SECRET["metadata"]["managedFields"]  # the documents themselves are not changed


def test_index_and_commit() -> None:
    document = _input()
    assert document["index"] == {
        "Secret": {"prod": {"token": 0}},
        "Service": {"shop": {"reviews": 1}},
        "Namespace": {"": {"shop": 2}},
    }
    assert document["commit"] == {"id": "abc", "ref": "main"}


def test_only_the_kinds_asked_for() -> None:
    documents = [
        Document("a.yaml", 0, 1, SECRET),
        Document("a.yaml", 1, 14, SERVICE),
        Document("b.yaml", 0, 1, NAMESPACE),
    ]
    document = build_input(documents, "prod", None, frozenset({"Service", "Namespace"}))
    assert [r["kind"] for r in document["resources"]] == ["Service", "Namespace"]
    assert document["index"] == {
        "Service": {"shop": {"reviews": 0}},
        "Namespace": {"": {"shop": 1}},
    }
