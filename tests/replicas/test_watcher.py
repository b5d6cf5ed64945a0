"""The propagation watcher, with fakes for the registry and the lifecycle."""

from __future__ import annotations

import threading

from broker.replicas.watcher import ActivationRef, ChangeWatcher, PolicySource


class FakeLifecycle:
    def __init__(self) -> None:
        self.stored: ActivationRef | None = ActivationRef(1, "v1")
        self.live = "v1"
        self.lock = threading.Lock()
        self.reactivated = 0

    def restore(self) -> None:
        assert self.stored is not None
        self.live = self.stored.version_id
        self.reactivated += 1

    def source(self) -> PolicySource:
        return PolicySource(current=lambda: self.stored, live=lambda: self.live,
                            reactivate=self.restore, lock=self.lock)


def test_follows_activations_made_elsewhere() -> None:
    lc = FakeLifecycle()
    w = ChangeWatcher(lambda: False, lc.source())
    w.poll()
    assert lc.reactivated == 0  # already live
    lc.stored = ActivationRef(2, "v2")
    w.poll()
    assert lc.live == "v2" and w.activations == 1
    w.poll()
    assert lc.reactivated == 1  # nothing new


def test_own_activation_is_not_repeated_or_undone() -> None:
    lc = FakeLifecycle()
    w = ChangeWatcher(lambda: False, lc.source())
    w.poll()
    # A local activation: live first (inside the uncommitted transaction, lock held) ...
    with lc.lock:
        lc.live = "v2"
        lc.stored = ActivationRef(2, "v1")  # a concurrent poll still sees the old row
        w.poll()
        assert lc.live == "v2"  # not rolled back to v1 behind the activation's back
    lc.stored = ActivationRef(3, "v2")  # ... then committed
    w.poll()
    assert lc.reactivated == 0


def test_registry_changes_counted_and_errors_survived() -> None:
    calls = iter([True, False])

    def refresh() -> bool:
        try:
            return next(calls)
        except StopIteration:
            raise ConnectionError("database went away") from None

    lc = FakeLifecycle()
    w = ChangeWatcher(refresh, lc.source())
    for _ in range(3):
        w.poll()
    assert w.registry_changes == 1
    assert w.last_error and "database went away" in w.last_error
