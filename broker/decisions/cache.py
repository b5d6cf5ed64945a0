"""Decision cache: canonical input (minus time) -> outcome with the time interval it holds for.

Validity rule. An engine evaluation at time ``t0`` that reports ``valid_until`` says: the answer
cannot change by itself before ``valid_until`` (the next window edge that matters to it). So the
entry answers exactly the evaluations at ``t`` with ``t0 <= t < valid_until`` (``valid_until``
null: ``t0 <= t``). Nothing is claimed before ``t0``: an earlier edge may lie between. A request
with an explicit ``at`` outside the interval misses and its own evaluation replaces the entry
(one interval per key keeps the hit path a single dict lookup). A decision whose window edge is
``valid_until`` therefore expires exactly at that instant.

Revisions are not part of the key because every :class:`PolicySnapshot` owns its cache: a swap
brings a fresh, empty cache with it, so invalidation on activation is the same single reference
assignment as the swap, and a request still running on the old snapshot can only fill the old
snapshot's cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from broker.decisions.model import Outcome

_Entry = tuple[int, int | None, Outcome]


class DecisionCache:
    """A bounded LRU map, safe to share between threads (one uncontended lock per call)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be >= 0")
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, at_ns: int) -> Outcome | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                start, until, outcome = entry
                if start <= at_ns and (until is None or at_ns < until):
                    self._entries.move_to_end(key)
                    return outcome
            return None

    def put(self, key: Hashable, at_ns: int, outcome: Outcome) -> None:
        until = outcome.valid_until_ns
        if self.max_entries == 0 or (until is not None and until <= at_ns):
            return  # holds for no instant after its own: nothing worth keeping
        with self._lock:
            self._entries[key] = (at_ns, until, outcome)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
