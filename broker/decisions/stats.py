"""Counts of decisions and engine evaluations, for the broker's ``/metrics``.

Updated on the request path, so kept to plain ints in plain dicts: no lock, a few bytecodes a
decision. Decisions are counted on the event loop's thread (every entry point decides there);
engine evaluations also in the threads that build and probe a new snapshot, where a rare lost
increment is the price of not locking. A scrape copies the dicts, so it never sees them change
under it.
"""

from __future__ import annotations

from bisect import bisect_left

from broker.decisions.model import Outcome

# Seconds; a cache miss on the embedded engine takes 40-150 µs on the development machine.
EVALUATION_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)

DecisionKey = tuple[bool, bool, tuple[str, ...]]  # (allow, served from the cache, reason codes)


class Histogram:
    """Observations counted per bucket (``counts[i]``: at most ``bounds[i]``; the last: above
    every bound) and summed: what a Prometheus histogram is made of, cumulated at scrape time."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value


class DecisionStats:
    def __init__(self) -> None:
        self.decisions: dict[DecisionKey, int] = {}
        self.evaluations = Histogram(EVALUATION_BUCKETS)  # seconds per engine evaluation
        self.evaluation_errors: dict[str, int] = {}  # by error code

    def decided(self, outcome: Outcome, cached: bool) -> None:
        key = (outcome.allow, cached, outcome.codes)
        counts = self.decisions
        counts[key] = counts.get(key, 0) + 1

    def failed(self, code: str) -> None:
        self.evaluation_errors[code] = self.evaluation_errors.get(code, 0) + 1


# Seconds the broker spends on one pre-flight, from the request's arrival at the handler to its
# last byte handed to the server (a cache hit is ~10-30 µs, a miss ~100-200 µs here).
PREFLIGHT_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class PreflightStats:
    """``POST /v1/preflight`` answers by status, and their handling time (the fast path's)."""

    def __init__(self) -> None:
        self.statuses: dict[int, int] = {}
        self.durations = Histogram(PREFLIGHT_BUCKETS)

    def answered(self, status: int, seconds: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.durations.observe(seconds)
