"""Latency histograms with fixed, log-spaced buckets, so percentiles add up across processes.

Every process counts each request's duration into the same buckets, so the counts of several
processes (or several minutes) are summed bucket by bucket and a percentile is read from the sum;
averaging each process's own p95 would be wrong. The bounds grow by 10^(1/10) (about 26 %) from
0.1 ms to 100 s, so a percentile read from them (the geometric middle of its bucket) is within
about 12 % of the truth.

Example::

    >>> counts = {bucket_of(3.0): 9, bucket_of(40.0): 1}
    >>> round(percentile(counts, 0.5), 1), round(percentile(counts, 0.95), 1)
    (2.8, 44.7)
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping

STEPS_PER_DECADE = 10
LOWEST_MS = 0.1
BOUNDS_MS: tuple[float, ...] = tuple(
    LOWEST_MS * 10 ** (i / STEPS_PER_DECADE) for i in range(6 * STEPS_PER_DECADE + 1)
)
"""Upper bounds of the buckets in milliseconds: bucket ``i`` holds durations in
``(BOUNDS_MS[i-1], BOUNDS_MS[i]]``, and the last (index ``len(BOUNDS_MS)``) anything over 100 s."""


def bucket_of(duration_ms: float) -> int:
    """The index of the bucket ``duration_ms`` falls into."""
    return bisect.bisect_left(BOUNDS_MS, duration_ms)


def percentile(counts: Mapping[int, int], q: float) -> float | None:
    """The ``q`` quantile (0 < q <= 1) in milliseconds of a histogram ``{bucket: count}``.

    Read at the geometric middle of the bucket where the quantile falls, which halves the worst
    error of reporting either bound. ``None`` when the histogram is empty.
    """
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index in sorted(counts):
        seen += counts[index]
        if seen >= rank:
            return _middle(index)
    return _middle(max(counts))


def _middle(index: int) -> float:
    if index <= 0:
        return BOUNDS_MS[0]
    if index >= len(BOUNDS_MS):
        return BOUNDS_MS[-1]
    return math.sqrt(BOUNDS_MS[index - 1] * BOUNDS_MS[index])
