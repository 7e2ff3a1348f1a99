"""serve.yaml: the repositories ``meshrc serve`` follows. Secrets never live here: they come
from the environment (MESHRC_WEBHOOK_SECRET, or a repository's ``secretEnv``)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from reconciler.errors import UsageError
from reconciler.model.common import duration_ns
from reconciler.rollback import AUTHOR_RE

WEBHOOK_SECRET_ENV = "MESHRC_WEBHOOK_SECRET"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Schedule(_Model):
    """When a job runs: exactly one of ``interval`` (a Go duration, "30s") and ``cron`` (five
    crontab fields, UTC); ``jitter`` seconds of random delay spread the runs."""

    interval: str | None = None
    cron: str | None = None
    jitter: float = Field(default=0, ge=0)

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is not None and duration_ns(value) <= 0:
            raise ValueError(f"duration {value!r} must be positive")
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                CronTrigger.from_crontab(value, timezone="UTC")
            except ValueError as exc:
                raise ValueError(f"invalid cron expression {value!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one(self) -> Schedule:
        if (self.interval is None) == (self.cron is None):
            raise ValueError("give exactly one of interval and cron")
        return self

    @property
    def seconds(self) -> float | None:
        return duration_ns(self.interval) / 1e9 if self.interval is not None else None


class Repository(_Model):
    name: str = Field(min_length=1)
    url: str = Field(min_length=1)
    """A path or a URL, as ``meshrc sync --repo`` takes."""
    branch: str = "main"
    targets: tuple[str, ...] = ()
    """The targets to sync (default: every target meshrc.yaml names)."""
    secret_env: str | None = Field(default=None, alias="secretEnv")
    """The environment variable holding this repository's webhook secret."""
    endpoints: Path | None = None
    """An endpoints file on this machine for its Envoy targets."""
    envoy_admin: str | None = Field(default=None, alias="envoyAdmin")
    """The admin API of the Envoy to confirm with."""
    poll: Schedule | None = None
    """Fetch and sync on this schedule (through the webhooks' debounced worker)."""
    drift: Schedule | None = None
    """Check the targets for drift on this schedule (``meshrc drift``)."""
    auto_revert: bool = Field(default=False, alias="autoRevert")
    """A target rolled back: push a revert of the failed commit(s) (``sync --auto-revert``)."""
    revert_author: str | None = Field(default=None, alias="revertAuthor")
    """``Name <email>`` of that revert."""

    @field_validator("revert_author")
    @classmethod
    def _author(cls, value: str | None) -> str | None:
        if value is not None and not AUTHOR_RE.match(value):
            raise ValueError(f"must be 'Name <email>', not {value!r}")
        return value

    def secret(self) -> bytes | None:
        """The webhook secret for this repository, from the environment."""
        value = os.environ.get(self.secret_env or WEBHOOK_SECRET_ENV)
        return value.encode() if value else None


class Webhook(_Model):
    max_body_bytes: int = Field(default=1024 * 1024, alias="maxBodyBytes", gt=0)


class LeaderElection(_Model):
    """Several replicas share the targets: each target is synced by the replica the
    consistent-hash ring gives it to, while that replica holds the target's Lease in
    ``namespace`` (:mod:`reconciler.serve.leases`). Durations are Go durations."""

    namespace: str = Field(min_length=1)
    lease_duration: str = Field(default="15s", alias="leaseDuration")
    """How long a lease outlives its holder's last renewal: a killed replica's targets wait
    this long to be taken over."""
    renew_period: str = Field(default="5s", alias="renewPeriod")
    kubeconfig: Path | None = None
    """Default: in a pod its service account, else $KUBECONFIG or ~/.kube/config."""
    context: str | None = None

    @field_validator("lease_duration", "renew_period")
    @classmethod
    def _positive(cls, value: str) -> str:
        if duration_ns(value) <= 0:
            raise ValueError(f"duration {value!r} must be positive")
        return value

    @model_validator(mode="after")
    def _renewed_in_time(self) -> LeaderElection:
        if 2 * self.renew_seconds > self.lease_seconds:
            raise ValueError(
                f"renewPeriod {self.renew_period} must be at most half of leaseDuration "
                f"{self.lease_duration}: a lease must survive a failed renewal"
            )
        return self

    @property
    def lease_seconds(self) -> float:
        return duration_ns(self.lease_duration) / 1e9

    @property
    def renew_seconds(self) -> float:
        return duration_ns(self.renew_period) / 1e9


class ServeConfig(_Model):
    repositories: tuple[Repository, ...] = ()
    webhook: Webhook = Webhook()
    leader_election: LeaderElection | None = Field(default=None, alias="leaderElection")
    """Absent: a single replica syncs every target."""


def load_config(path: Path) -> ServeConfig:
    """The configuration in ``path``; a UsageError naming the file and the key otherwise."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}") from None
    try:
        config = ServeConfig.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise UsageError(f"{path}: {key}: {first['msg']}") from None
    names = [r.name for r in config.repositories]
    if len(set(names)) != len(names):
        raise UsageError(f"{path}: repositories: names must be unique ({', '.join(names)})")
    return config
