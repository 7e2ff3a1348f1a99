"""The Git hosts' push webhooks: who signed them, what they push.

Each provider's scheme is checked with :func:`hmac.compare_digest`; a request is judged only
after its signature holds, so nothing unsigned is ever remembered or acted on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock
from typing import Any

from starlette.datastructures import Headers

from reconciler.serve.config import Repository, ServeConfig

PROVIDERS = ("github", "gitlab", "gitea", "generic")


@dataclass(frozen=True)
class Push:
    """What a verified webhook asks for."""

    delivery: str | None
    is_push: bool
    names: frozenset[str]
    """The repository's names and URLs, as the payload gives them."""
    ref: str | None


def payload(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def describe(provider: str, headers: Headers, data: dict[str, Any] | None) -> Push:
    """The push a (not yet verified) request describes."""
    data = data or {}
    ref = data.get("ref") if isinstance(data.get("ref"), str) else None
    if provider == "generic":
        repository = data.get("repository")
        names = {repository} if isinstance(repository, str) else set()
        return Push(headers.get("x-meshrc-delivery"), True, frozenset(names), ref)
    block = data.get("project" if provider == "gitlab" else "repository")
    names = set()
    if isinstance(block, dict):
        for key in (
            "name", "full_name", "path_with_namespace", "clone_url", "ssh_url", "html_url",
            "git_http_url", "git_ssh_url", "web_url", "url",
        ):  # fmt: skip
            if isinstance(block.get(key), str):
                names.add(block[key])
    if provider == "github":
        delivery, is_push = (
            headers.get("x-github-delivery"),
            headers.get("x-github-event") == "push",
        )
    elif provider == "gitlab":
        delivery = headers.get("x-gitlab-event-uuid") or headers.get("x-gitlab-webhook-uuid")
        is_push = headers.get("x-gitlab-event") == "Push Hook"
    else:
        delivery, is_push = headers.get("x-gitea-delivery"), headers.get("x-gitea-event") == "push"
    return Push(delivery, is_push, frozenset(names), ref)


def verified(provider: str, headers: Headers, body: bytes, secret: bytes) -> bool:
    """Whether the request carries ``secret``'s signature of ``body`` (constant time)."""
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
    if provider == "github":
        given = headers.get("x-hub-signature-256", "")
        return hmac.compare_digest(given.encode(), f"sha256={digest}".encode())
    if provider == "gitlab":
        return hmac.compare_digest(headers.get("x-gitlab-token", "").encode(), secret)
    if provider == "gitea":
        return hmac.compare_digest(headers.get("x-gitea-signature", "").encode(), digest.encode())
    given = headers.get("x-meshrc-signature", "")
    return hmac.compare_digest(given.encode(), f"sha256={digest}".encode())


def _normal(name: str) -> str:
    name = name.strip().rstrip("/")
    return name.removesuffix(".git").lower()


def matching(config: ServeConfig, push: Push) -> Repository | None:
    """The followed repository the push names (by its name or URL), if any."""
    given = {_normal(n) for n in push.names}
    for repository in config.repositories:
        url = _normal(repository.url)
        if _normal(repository.name) in given or url in given:
            return repository
        if any(n.count("/") == 1 and url.endswith("/" + n) for n in given):  # owner/name
            return repository
    return None


class Deliveries:
    """The delivery ids seen lately (a bounded LRU): a replay is recognised, not acted on."""

    def __init__(self, size: int = 4096) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._size = size
        self._lock = Lock()

    def seen(self, key: str) -> bool:
        """Whether ``key`` was seen before; remember it either way."""
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return True
            self._seen[key] = None
            if len(self._seen) > self._size:
                self._seen.popitem(last=False)
            return False
