"""The Prometheus metrics of ``meshrc serve``, in a registry of their own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sync_total = Counter(
            "meshrc_sync", "Syncs of a target, by result.", ["target", "result"],
            registry=self.registry,
        )  # fmt: skip
        self.sync_duration = Histogram(
            "meshrc_sync_duration_seconds", "How long a sync of a repository took.",
            registry=self.registry,
        )  # fmt: skip
        self.webhook_requests = Counter(
            "meshrc_webhook_requests", "Webhook requests, by provider and result.",
            ["provider", "result"], registry=self.registry,
        )  # fmt: skip
        self.last_applied = Gauge(
            "meshrc_last_applied_timestamp", "When a target last applied a new version (Unix).",
            ["target"], registry=self.registry,
        )  # fmt: skip
        self.rollback_total = Counter(
            "meshrc_rollback", "Targets rolled back by a sync, by reason: apply-failed, or "
            "auto-revert when a revert of the failed commit was committed too.",
            ["target", "reason"], registry=self.registry,
        )  # fmt: skip
        self.git_fetch_duration = Histogram(
            "meshrc_git_fetch_duration_seconds", "How long opening and fetching Git took.",
            registry=self.registry,
        )  # fmt: skip
        self.leader = Gauge(
            "meshrc_leader", "1 while this replica holds the target's lease (leader election).",
            ["target"], registry=self.registry,
        )  # fmt: skip

    def render(self) -> bytes:
        return generate_latest(self.registry)
