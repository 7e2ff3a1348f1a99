"""``meshrc.yaml``: the repository's own configuration, at the root of the repository.

    paths: [mesh]            folders holding the manifests (default: the whole repository)
    failOn: error            lowest severity that fails a check: error, warning, info, none
    policies: [policies]     folders of Rego policies shipped with the repository
    params: {retries_max: 3} parameters for policies (data.meshrc.params)
    ignore: [subset-without-labels, "host-not-found=VirtualService/legacy/*"]

Options on the command line win over the file.
"""

from __future__ import annotations

from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.errors import ConfigError

CONFIG_FILE = "meshrc.yaml"


class RepoConfig(BaseModel):
    """The validated content of ``meshrc.yaml``; unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    paths: list[str] = Field(default_factory=list)
    fail_on: Literal["error", "warning", "info", "none"] | None = Field(None, alias="failOn")
    policies: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    ignore: list[str] = Field(default_factory=list)


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
