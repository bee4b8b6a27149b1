"""Which builds go when there are too many: the Fiddle 2.0 design's decimation.

Recent builds matter more than old ones, so history is kept fine-grained near now and thinned
further back: keep 128 builds or more, and when adding one makes 257, order the builds newest
first (by release time, as runids sort), number them from 0 and delete every odd-numbered one.

The arithmetic, precisely: 257 builds are numbered 0 (the newest) to 256 (the oldest). The even
numbers 0, 2, ..., 256 are 129 builds, which stay; the odd numbers 1, 3, ..., 255 are 128 builds,
which go. So 129 builds remain, not 128 as the design's text says: keeping both the newest (0)
and the oldest (256) of an odd count means keeping one more than half. This keeps every
invariant: after an addition there are at most 256 builds, and never fewer than 128 once there
have been 128; the newest and the oldest always stay; and since each decimation merges pairs of
neighbours, the gap between neighbouring builds never shrinks going back in time, so recent
builds stay denser than old ones.

Builds added out of order (an older release added after a newer one) take their place by release
time; the newest and the oldest still stay. The build being added always stays too, wherever it
falls: an operator who adds a release wants it, and deleting it at once would only make the next
`fiddle builds add` install it again. If it falls on an odd number, 130 builds remain instead of
129, which keeps every invariant.
"""

from __future__ import annotations

from collections.abc import Sequence

KEEP_AT_LEAST = 128
DECIMATE_AT = 257


def to_delete(runids: Sequence[str], added: str = "") -> list[str]:
    """The runids to delete from these good builds (none while there are fewer than 257), never
    `added`, the build just added.

    With more than 257 (only if builds were listed by hand), decimation repeats until at most
    256 remain; the oldest then stays even when its number is odd."""
    remaining = sorted(set(runids), reverse=True)
    deleted: list[str] = []
    while len(remaining) >= DECIMATE_AT:
        odd = [runid for runid in remaining[1 : len(remaining) - 1 : 2] if runid != added]
        deleted += odd
        gone = set(odd)
        remaining = [runid for runid in remaining if runid not in gone]
    return deleted
