"""Decimation of old builds (runner_vm/builds/decimate.py), as the Fiddle 2.0 design says it: at 257
builds, newest first and numbered from 0, every odd one goes. Exact cases first, then properties
over random sequences of additions (hypothesis)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from runner_vm.builds.decimate import DECIMATE_AT, KEEP_AT_LEAST, to_delete

START = datetime(2020, 1, 1, tzinfo=UTC)


def runid(minutes: int) -> str:
    """The runid of a build released `minutes` after START (runids sort by release time)."""
    released = (START + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{released}-{minutes}.0"


def add(kept: list[str], new: str) -> list[str]:
    """What `fiddle builds add` leaves: the new build listed, then the decimated ones gone."""
    listed = [*kept, new]
    gone = set(to_delete(listed, added=new))
    assert new not in gone  # the build just added always stays
    return [r for r in listed if r not in gone]


def test_at_256_nothing_goes() -> None:
    assert to_delete([runid(i) for i in range(256)]) == []


def test_at_257_the_odd_ones_go_and_129_stay() -> None:
    builds = [runid(i) for i in range(DECIMATE_AT)]
    newest_first = sorted(builds, reverse=True)
    gone = to_delete(builds)
    # Numbered from 0, newest first: 1, 3, ..., 255 go (128 of them); 0, 2, ..., 256 stay (129).
    assert gone == newest_first[1::2] and len(gone) == 128
    stays = sorted(set(builds) - set(gone), reverse=True)
    assert stays == newest_first[0::2] and len(stays) == 129
    assert newest_first[0] in stays and newest_first[-1] in stays  # the newest, the oldest


def test_a_build_added_at_an_odd_place_stays_and_130_remain() -> None:
    builds = [runid(i) for i in range(0, 2 * DECIMATE_AT, 2)]
    older = runid(2 * (DECIMATE_AT - 1) - 1)  # released just before the newest: number 1
    listed = sorted([*builds[1:], older], reverse=True)
    assert listed.index(older) == 1 and len(listed) == DECIMATE_AT
    gone = to_delete(listed, added=older)
    assert older not in gone and len(gone) == 127 and len(listed) - len(gone) == 130


def test_the_order_added_does_not_matter_only_the_release_time() -> None:
    builds = [runid(i) for i in range(DECIMATE_AT)]
    assert sorted(to_delete(builds)) == sorted(to_delete(list(reversed(builds))))


def test_builds_listed_by_hand_beyond_257_are_decimated_until_at_most_256_stay() -> None:
    builds = [runid(i) for i in range(600)]
    stay = set(builds) - set(to_delete(builds))
    assert KEEP_AT_LEAST <= len(stay) <= 256
    assert runid(599) in stay and runid(0) in stay


additions = st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=900)


@settings(max_examples=150, deadline=None)
@given(times=additions)
def test_any_additions_keep_the_counts_and_the_newest_and_oldest(times: list[int]) -> None:
    """Builds added in any order (an old release can be added late)."""
    kept: list[str] = []
    reached = False
    for minutes in times:
        new = runid(minutes)
        if new in kept:
            continue
        before = set(kept)
        kept = add(kept, new)
        assert len(kept) <= 256
        reached = reached or len(kept) >= KEEP_AT_LEAST
        if reached:
            assert len(kept) >= KEEP_AT_LEAST
        listed = before | {new}
        assert max(listed) in kept and min(listed) in kept  # the newest and the oldest stay


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(min_value=DECIMATE_AT, max_value=1500),
    gaps=st.lists(st.integers(min_value=1, max_value=600), min_size=1500, max_size=1500),
)
def test_builds_added_as_they_are_released_stay_denser_when_recent(
    count: int, gaps: list[int]
) -> None:
    """Builds added as they are made (each newer than the last, at any pace): going back in
    time, the number of builds skipped between neighbours that stay never shrinks."""
    kept: list[str] = []
    order: dict[str, int] = {}
    minutes = 0
    for index in range(count):
        minutes += gaps[index]
        new = runid(minutes)
        order[new] = index
        kept = add(kept, new)
    positions = sorted((order[r] for r in kept), reverse=True)  # newest first
    skipped = [newer - older for newer, older in itertools.pairwise(positions)]
    assert skipped == sorted(skipped), skipped
    assert positions[0] == count - 1 and positions[-1] == 0
