"""A consistent-hash ring: which replica of ``meshrc serve`` syncs which target.

Each member stands on the ring at ``VIRTUAL_NODES`` points (sha256 of ``member#i``); a key
belongs to the first member point at or after the key's own hash, wrapping around. Many
points per member keep the shares even, and a member that leaves hands on only its own keys
(to the members next on the ring): the others keep theirs, so a replica's restart does not
move every target.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable
from functools import lru_cache

VIRTUAL_NODES = 100


def _point(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


class Ring:
    """The ring of a set of members (their order does not matter)."""

    def __init__(self, members: Iterable[str]) -> None:
        points = sorted(
            (_point(f"{member}#{index}"), member)
            for member in set(members)
            for index in range(VIRTUAL_NODES)
        )
        if not points:
            raise ValueError("a ring needs at least one member")
        self._hashes = [point for point, _member in points]
        self._members = [member for _point, member in points]

    def owner(self, key: str) -> str:
        index = bisect.bisect_left(self._hashes, _point(key)) % len(self._hashes)
        return self._members[index]


@lru_cache(maxsize=16)
def _ring(members: frozenset[str]) -> Ring:
    return Ring(members)  # membership changes rarely: build each ring once


def owner(key: str, members: Iterable[str]) -> str:
    """The member that ``key`` belongs to."""
    return _ring(frozenset(members)).owner(key)
