"""Each provider's signature scheme, the body cap, replays, unknown providers, health: all
through the real app served by uvicorn, and each counted in /metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.serve.config import Repository, ServeConfig, Webhook
from reconciler.state import open_store
from serve.helpers import SECRET, Running, push_body, running, signed

PROVIDERS = ["github", "gitlab", "gitea", "generic"]


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    monkeypatch.setenv("MESHRC_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("OTHER_SECRET", "another-one")
    config = ServeConfig(
        repositories=(
            Repository(name="mesh", url=str(tmp_path / "nowhere"), branch="main"),
            Repository(name="own", url=str(tmp_path / "own"), secretEnv="OTHER_SECRET"),
        ),
        webhook=Webhook(maxBodyBytes=2048),
    )
    with (
        open_store(None, tmp_path / "state") as store,
        running(config, store, tmp_path / "state") as served,
    ):
        yield served


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_signed_push_is_accepted_and_a_bad_signature_refused(app: Running, provider: str) -> None:
    other = push_body(provider, "mesh", "refs/heads/feature")  # not followed: nothing to sync
    status, answer = app.post(f"/webhooks/{provider}", other, signed(provider, other, "d-1"))
    assert (status, answer["result"]) == (200, "ignored")
    forged = signed(provider, other, "d-2", secret="wrong")
    assert app.post(f"/webhooks/{provider}", other, forged)[0] == 401
    if provider != "gitlab":  # GitLab sends a token, not a signature of the body
        tampered = push_body(provider, "mesh", "refs/heads/feature2")
        headers = signed(provider, other, "d-3")
        status, answer = app.post(f"/webhooks/{provider}", tampered, headers)
        assert (status, answer["result"]) == (401, "bad-signature")
    assert app.metric("meshrc_webhook_requests_total", provider=provider, result="ignored") == 1
    assert app.metric(
        "meshrc_webhook_requests_total", provider=provider, result="bad-signature"
    ) == (1 if provider == "gitlab" else 2)


def test_a_repository_secret_from_its_own_variable(app: Running) -> None:
    body = push_body("github", "own", "refs/heads/other")
    assert app.post("/webhooks/github", body, signed("github", body, "o-1"))[0] == 401
    good = signed("github", body, "o-2", secret="another-one")
    assert app.post("/webhooks/github", body, good)[0] == 200


def test_a_replayed_delivery_is_ignored(app: Running) -> None:
    body = push_body("github", "mesh", "refs/heads/feature")
    headers = signed("github", body, "same-delivery")
    assert app.post("/webhooks/github", body, headers)[1]["result"] == "ignored"
    status, answer = app.post("/webhooks/github", body, headers)
    assert (status, answer["result"]) == (200, "duplicate")
    assert app.metric("meshrc_webhook_requests_total", provider="github", result="duplicate") == 1


def test_an_oversized_body_is_refused(app: Running) -> None:
    body = push_body("generic", "mesh") + b" " * 4096
    status, answer = app.post("/webhooks/generic", body, signed("generic", body, "big"))
    assert (status, answer["result"]) == (413, "too-large")
    assert app.metric("meshrc_webhook_requests_total", provider="generic", result="too-large") == 1


def test_an_unknown_provider_is_404(app: Running) -> None:
    body = push_body("generic", "mesh")
    assert app.post("/webhooks/bitbucket", body, signed("generic", body, "x"))[0] == 404
    assert (
        app.metric("meshrc_webhook_requests_total", provider="unknown", result="unknown-provider")
        == 1
    )


def test_health_readiness_and_metrics(app: Running) -> None:
    assert app.get("/healthz") == (200, "ok\n")
    assert app.get("/readyz") == (200, "ready\n")
    status, text = app.get("/metrics")
    assert status == 200
    for name in (
        "meshrc_sync_duration_seconds", "meshrc_git_fetch_duration_seconds",
        "meshrc_webhook_requests_total", "meshrc_sync_total", "meshrc_last_applied_timestamp",
    ):  # fmt: skip
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
