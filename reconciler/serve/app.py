"""The ASGI application: health, readiness, metrics, the webhooks and the status page."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from reconciler.serve import status_page, webhooks
from reconciler.serve.config import WEBHOOK_SECRET_ENV, ServeConfig
from reconciler.serve.logs import log
from reconciler.serve.metrics import Metrics
from reconciler.serve.scheduler import Scheduler
from reconciler.state import StateStore

CONTENT_TYPE_LATEST = "text/plain; version=0.0.4; charset=utf-8"


class _TooLarge(Exception):
    pass


async def _body(request: Request, limit: int) -> bytes:
    """The body, refused (without reading the rest) once it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    config: ServeConfig, store: StateStore, scheduler: Scheduler, metrics: Metrics
) -> Starlette:
    deliveries = webhooks.Deliveries()

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(_request: Request) -> Response:
        try:
            await run_in_threadpool(store.history, None, 1)
        except Exception as exc:
            log("warning", "not-ready", error=f"{type(exc).__name__}: {exc}")
            return PlainTextResponse("store unreachable\n", status_code=503)
        return PlainTextResponse("ready\n")

    async def metrics_page(_request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def webhook(request: Request) -> Response:
        provider = request.path_params["provider"]
        if provider not in webhooks.PROVIDERS:
            return answer("unknown", "unknown-provider", 404)  # bounded label values
        try:
            body = await _body(request, config.webhook.max_body_bytes)
        except _TooLarge:
            return answer(provider, "too-large", 413)
        except ClientDisconnect:
            return answer(provider, "disconnected", 400)
        data = webhooks.payload(body)
        push = webhooks.describe(provider, request.headers, data)
        repository = webhooks.matching(config, push)
        secret = repository.secret() if repository else None
        secret = secret or _default_secret()
        if secret is None:
            return answer(provider, "no-secret", 401)
        if not webhooks.verified(provider, request.headers, body, secret):
            return answer(provider, "bad-signature", 401)
        if data is None:
            return answer(provider, "bad-payload", 400)
        if push.delivery and deliveries.seen(f"{provider}:{push.delivery}"):
            return answer(provider, "duplicate", 200, delivery=push.delivery)
        if not push.is_push:
            return answer(provider, "ignored", 200, reason="not a push")
        if repository is None:
            return answer(provider, "ignored", 200, reason="no followed repository")
        if push.ref != f"refs/heads/{repository.branch}":
            return answer(provider, "ignored", 200, reason=f"not {repository.branch}")
        scheduler.pushed(repository)
        return answer(provider, "accepted", 202, repository=repository.name)

    def answer(provider: str, result: str, status: int, **fields: object) -> Response:
        metrics.webhook_requests.labels(provider, result).inc()
        log("info" if status < 400 else "warning", "webhook", provider=provider,
            result=result, status=status, **fields)  # fmt: skip
        return JSONResponse({"result": result, **fields}, status_code=status)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_page),
            Route("/webhooks/{provider}", webhook, methods=["POST"]),
            *status_page.routes(store),
        ]
    )


def _default_secret() -> bytes | None:
    value = os.environ.get(WEBHOOK_SECRET_ENV)
    return value.encode() if value else None
