"""serve.yaml: the repositories ``meshrc serve`` follows. Secrets never live here: they come
from the environment (MESHRC_WEBHOOK_SECRET, or a repository's ``secretEnv``)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.errors import UsageError

WEBHOOK_SECRET_ENV = "MESHRC_WEBHOOK_SECRET"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


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

    def secret(self) -> bytes | None:
        """The webhook secret for this repository, from the environment."""
        value = os.environ.get(self.secret_env or WEBHOOK_SECRET_ENV)
        return value.encode() if value else None


class Webhook(_Model):
    max_body_bytes: int = Field(default=1024 * 1024, alias="maxBodyBytes", gt=0)


class ServeConfig(_Model):
    repositories: tuple[Repository, ...] = ()
    webhook: Webhook = Webhook()


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
