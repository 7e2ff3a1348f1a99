"""A local Envoy target: file-based xDS in a folder, written the way the kubelet writes a
mounted ConfigMap, and confirmed through the Envoy's admin API.

    <folder>/..v-<hash>/lds.yaml cds.yaml bootstrap.yaml meshrc-version.json
    <folder>/..data -> ..v-<hash>           swapped in one rename
    <folder>/lds.yaml -> ..data/lds.yaml    (and cds.yaml, bootstrap.yaml)

An Envoy started with ``<folder>/bootstrap.yaml`` watches the folder and takes each new version
without a restart. A version is written whole before it is switched to; the switch is a
rename, so the Envoy reads the old version or the new one, never half of one. The previous
version is kept, to switch back to when the Envoy rejects the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import TargetError
from reconciler.verify.envoy import EnvoyProcess

DATA = "..data"
MANIFEST = "meshrc-version.json"
ADMIN_FILE = "meshrc-envoy-admin"
"""Where a supervised Envoy's admin URL is written, so that other syncs confirm through it."""
UPDATE_STATS = ("listener_manager.lds", "cluster_manager.cds")
WARMING_STATS = ("listener_manager.total_listeners_warming", "cluster_manager.warming_clusters")
"""Gauges of what a taken update still prepares: its listeners serve once they are 0."""


@dataclass(frozen=True)
class Version:
    """One version of the folder: what commit it came from, and a hash of its files."""

    name: str
    commit: str
    content_hash: str


class EnvoyFolder:
    """The folder an Envoy reads its configuration from."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def bootstrap(self) -> Path:
        return self.directory / "bootstrap.yaml"

    def admin_url(self) -> str | None:
        """The admin URL of the Envoy that ``meshrc sync --run-envoy`` supervises here."""
        try:
            return (self.directory / ADMIN_FILE).read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def current(self) -> Version | None:
        """The version the Envoy reads now; None before the first apply."""
        link = self.directory / DATA
        if not link.is_symlink():
            return None
        return self._version(os.readlink(link))

    def write(self, files: dict[str, str], commit: str, content_hash: str) -> Version:
        """Write a version in full (not yet in use); the same content is written once."""
        name = f"..v-{content_hash[:16]}"
        folder = self.directory / name
        version = Version(name, commit, content_hash)
        manifest = {
            "commit": commit,
            "hash": content_hash,
            "files": sorted(files),
            "hashes": {file: file_hash(text) for file, text in files.items()},
        }
        if (folder / MANIFEST).is_file():  # the same content again (a revert): say which commit
            try:
                _write_synced(folder / f"{MANIFEST}.tmp", json.dumps(manifest, sort_keys=True))
                (folder / f"{MANIFEST}.tmp").replace(folder / MANIFEST)
            except OSError as exc:
                raise TargetError(f"cannot write {folder}: {exc.strerror or exc}") from None
            return version
        staging = self.directory / f"{name}.tmp{os.getpid()}"
        try:
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            for file, text in sorted(files.items()):
                _write_synced(staging / file, text)
            _write_synced(staging / MANIFEST, json.dumps(manifest, sort_keys=True))
            staging.replace(folder)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise TargetError(f"cannot write {folder}: {exc.strerror or exc}") from None
        return version

    def activate(self, version: Version) -> None:
        """Switch the Envoy to ``version`` in one rename; older versions but the one before
        are removed."""
        previous = self.current()
        try:
            for file in json.loads((self.directory / version.name / MANIFEST).read_text())["files"]:
                link = self.directory / file
                if not link.is_symlink():
                    os.symlink(f"{DATA}/{file}", link)
            staging = self.directory / f"{DATA}.tmp{os.getpid()}"
            if staging.is_symlink():
                staging.unlink()
            os.symlink(version.name, staging)
            os.replace(staging, self.directory / DATA)
        except OSError as exc:
            raise TargetError(f"cannot switch {self.directory} to {version.name}: {exc}") from None
        keep = {version.name, previous.name if previous else ""}
        for entry in self.directory.glob("..v-*"):
            if entry.name not in keep and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)

    def manifest(self, version: Version) -> dict[str, Any]:
        """What ``version``'s manifest says: commit, hash, files and (since drift detection)
        each file's hash; empty when it cannot be read."""
        try:
            found = json.loads((self.directory / version.name / MANIFEST).read_text())
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def _version(self, name: str) -> Version | None:
        try:
            manifest = json.loads((self.directory / name / MANIFEST).read_text())
        except (OSError, ValueError):
            return None
        return Version(name, str(manifest["commit"]), str(manifest["hash"]))


def file_hash(text: str) -> str:
    """The hash of one file of a version, as its manifest lists it."""
    return hashlib.sha256(text.encode()).hexdigest()


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


class EnvoyAdmin:
    """The admin API of the Envoy that reads the folder: did it take the new version?"""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def update_counters(self) -> dict[str, int]:
        """``update_success`` and ``update_rejected`` of LDS and CDS, and the warming gauges."""
        try:
            with urllib.request.urlopen(f"{self.url}/stats?format=json", timeout=5) as answer:
                stats = json.load(answer)["stats"]
        except (OSError, ValueError, KeyError) as exc:
            raise TargetError(f"Envoy admin at {self.url} did not answer: {exc}") from None
        wanted = {
            f"{prefix}.{kind}"
            for prefix in UPDATE_STATS
            for kind in ("update_success", "update_rejected")
        } | set(WARMING_STATS)
        return {s["name"]: int(s["value"]) for s in stats if s.get("name") in wanted}

    def dynamic_names(self) -> dict[str, dict[str, str]]:
        """The dynamic listeners and (active) clusters the Envoy runs, by name, with the
        ``version_info`` of each, from ``/config_dump``."""
        try:
            with urllib.request.urlopen(f"{self.url}/config_dump", timeout=5) as answer:
                dump = json.load(answer)
        except (OSError, ValueError) as exc:
            raise TargetError(f"Envoy admin at {self.url} did not answer: {exc}") from None
        found: dict[str, dict[str, str]] = {"listeners": {}, "clusters": {}}
        for config in dump.get("configs") or []:
            kind = str(config.get("@type", ""))
            if kind.endswith("ListenersConfigDump"):
                for item in config.get("dynamic_listeners") or []:
                    state = item.get("active_state") or item.get("warming_state") or {}
                    found["listeners"][str(item.get("name"))] = str(state.get("version_info", ""))
            elif kind.endswith("ClustersConfigDump"):
                for item in config.get("dynamic_active_clusters") or []:
                    name = str((item.get("cluster") or {}).get("name"))
                    found["clusters"][name] = str(item.get("version_info", ""))
        return found

    def confirm(self, before: dict[str, int]) -> str | None:
        """Wait until the Envoy has taken or rejected the new version: None when both LDS and
        CDS took it and nothing of it is still warming (before that, new connections still meet
        the old listeners), else what it rejected."""
        deadline = time.monotonic() + self.timeout
        while True:
            now = self.update_counters()
            grew = {name for name, value in now.items() if value > before.get(name, 0)}

            rejected = [
                p.rsplit(".", 1)[1].upper() for p in UPDATE_STATS if f"{p}.update_rejected" in grew
            ]
            if rejected:
                return f"Envoy rejected the new {' and '.join(rejected)}"
            taken = all(f"{prefix}.update_success" in grew for prefix in UPDATE_STATS)
            if taken and not any(now.get(gauge, 0) for gauge in WARMING_STATS):
                return None
            if time.monotonic() > deadline:
                return f"Envoy did not take the new version within {self.timeout:g} s"
            time.sleep(0.05)


def supervise(
    folder: EnvoyFolder,
    stop: threading.Event,
    say: Callable[[str], None],
    binary: str | None = None,
) -> int:
    """Run a real Envoy on ``folder`` until ``stop`` is set, starting it again whenever it
    exits; the number of restarts. Its admin URL is in the folder while it runs, for the
    syncs that confirm new versions through it."""
    config = yaml.safe_load(folder.bootstrap.read_text(encoding="utf-8"))
    restarts = -1
    pause = 0.5
    admin_file = folder.directory / ADMIN_FILE
    try:
        while not stop.is_set():
            restarts += 1
            with EnvoyProcess(config, binary=binary) as envoy:
                _write_synced(admin_file, envoy.admin_url)
                say(f"Envoy {envoy.pid} serves {folder.directory} (admin {envoy.admin_url})")
                while not stop.wait(0.2):
                    if envoy.exited:
                        say(f"Envoy {envoy.pid} exited; starting it again in {pause:g} s")
                        break
            if not stop.is_set():
                stop.wait(pause)
                pause = min(pause * 2, 30.0)  # an Envoy that keeps dying is not restarted in a loop
    finally:
        admin_file.unlink(missing_ok=True)
    return restarts
