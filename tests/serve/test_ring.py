"""The consistent-hash ring: the same answer everywhere, even shares, and a member that leaves
moves only its own keys."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.serve.ring import owner

KEYS = [f"target-{n}" for n in range(1000)]


def test_the_owner_is_deterministic_and_ignores_the_members_order() -> None:
    members = ["meshrc-0", "meshrc-1", "meshrc-2"]
    first = [owner(key, members) for key in KEYS]
    assert first == [owner(key, list(reversed(members))) for key in KEYS]
    assert first == [owner(key, set(members)) for key in KEYS]
    assert set(first) == set(members)


@pytest.mark.parametrize("count", [2, 3, 5])
def test_keys_are_shared_evenly(count: int) -> None:
    members = [f"meshrc-{n}" for n in range(count)]
    shares = Counter(owner(key, members) for key in KEYS)
    fair = len(KEYS) / count
    assert all(0.6 * fair <= share <= 1.4 * fair for share in shares.values()), shares


def test_a_single_member_owns_everything_and_no_member_is_an_error() -> None:
    assert {owner(key, ["only"]) for key in KEYS} == {"only"}
    with pytest.raises(ValueError, match="at least one member"):
        owner("target", [])


@settings(max_examples=50, deadline=None)
@given(
    members=st.sets(st.text(min_size=1, max_size=12), min_size=2, max_size=6),
    data=st.data(),
)
def test_removing_a_member_moves_only_its_keys(members: set[str], data: st.DataObject) -> None:
    leaving = data.draw(st.sampled_from(sorted(members)))
    remaining = members - {leaving}
    keys = KEYS[:200]
    for key in keys:
        before, after = owner(key, members), owner(key, remaining)
        assert after == before or before == leaving
        assert after in remaining
