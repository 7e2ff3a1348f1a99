"""Checks of ServiceEntries."""

from __future__ import annotations

from collections.abc import Iterator

from reconciler.findings import Finding
from reconciler.model.snapshot import Snapshot


def check_service_entries(snap: Snapshot) -> Iterator[Finding]:
    """A TCP port without addresses cannot be told apart from other TCP traffic (IST0134)."""
    for entry in snap.service_entries:
        if entry.spec.addresses:
            continue
        for index, port in enumerate(entry.spec.ports or ()):
            if (port.protocol or "TCP").upper() == "TCP":
                yield Finding.of(
                    "serviceentry-addresses-required",
                    f"port {port.number} is TCP (or has no protocol) but the ServiceEntry has "
                    "no addresses: its traffic cannot be told apart from other TCP traffic on "
                    "that port",
                    **entry.where(f"spec.ports[{index}]"),
                )
