"""The decision matrix of a registry: every (tenant, target, model, subject, time) to evaluate.

Times are ``now`` plus every window edge of the compiled registry inside ``[start_ns, end_ns]``
(the instants at which some decision can change), so a differential check sees each side of every
release window, exemption date and group-membership change. Subjects are a small fixed set that
exercises the subject-dependent rules (none, a US person, a foreign national, a sanctioned
nationality); pass your own to widen it.

The matrix is never materialised: an index maps to one input by mixed-radix decoding, so
``sample(n, seed)`` draws uniformly from millions of combinations in O(n).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from broker.policy.datadoc import compile_data_document, window_edges
from registry.model import Registry

Subject = dict[str, Any] | None

DEFAULT_SUBJECTS: tuple[Subject, ...] = (
    None,
    {"nationalities": ["US"], "us_person": True},
    {"nationalities": ["DE"], "us_person": False},
    {"nationalities": ["IR"], "us_person": False},
)

TargetSet = Literal["deployed", "all"]


@dataclass(frozen=True)
class DecisionMatrix:
    """Cartesian product tenants x targets x models x subjects x times, indexable and sampleable."""

    tenants: tuple[str, ...]
    targets: tuple[str, ...]
    models: tuple[str, ...]
    subjects: tuple[Subject, ...]
    times: tuple[int, ...]
    _dims: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        dims = (len(self.tenants), len(self.targets), len(self.models), len(self.subjects), len(self.times))
        object.__setattr__(self, "_dims", dims)

    @classmethod
    def of(
        cls,
        reg: Registry,
        now_ns: int,
        *,
        targets: TargetSet = "deployed",
        start_ns: int | None = None,
        end_ns: int | None = None,
        subjects: Sequence[Subject] = DEFAULT_SUBJECTS,
        extra_ids: bool = True,
    ) -> DecisionMatrix:
        """The matrix of ``reg``.

        ``targets="deployed"``: every routing scope plus every region some model is deployed in;
        ``"all"``: every scope and every region. ``start_ns``/``end_ns`` bound the window edges
        (inclusive; None = unbounded). ``extra_ids`` adds one unknown id per axis so the
        UNKNOWN_* paths are compared too.
        """
        doc = compile_data_document(reg)
        chosen: set[str] = set(reg.scopes)
        if targets == "all":
            chosen |= set(reg.regions)
        else:
            chosen |= {d.target for m in reg.models.values() for d in m.deployments if d.target in reg.regions}
        edges = {
            e for e in window_edges(doc) if (start_ns is None or e >= start_ns) and (end_ns is None or e <= end_ns)
        }
        unknown = ("unknown-id",) if extra_ids else ()
        return cls(
            tenants=tuple(sorted(reg.tenants)) + unknown,
            targets=tuple(sorted(chosen)) + (("aws:unknown-region",) if extra_ids else ()),
            models=tuple(sorted(reg.models)) + unknown,
            subjects=tuple(subjects),
            times=tuple(sorted(edges | {now_ns})),
        )

    def __len__(self) -> int:
        total = 1
        for d in self._dims:
            total *= d
        return total

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        coords = []
        for size in reversed(self._dims):
            index, rem = divmod(index, size)
            coords.append(rem)
        t, g, m, s, w = reversed(coords)
        return {
            "tenant": self.tenants[t],
            "target": self.targets[g],
            "model": self.models[m],
            "subject": self.subjects[s],
            "now_ns": self.times[w],
        }

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self)):
            yield self[i]

    def sample(self, n: int, seed: int = 0) -> list[dict[str, Any]]:
        """``n`` distinct inputs drawn uniformly with ``random.Random(seed)`` (all if n >= len)."""
        if n >= len(self):
            return list(self)
        # random.sample on a range draws indices without building the range.
        return [self[i] for i in sorted(random.Random(seed).sample(range(len(self)), n))]

    def describe(self) -> str:
        t, g, m, s, w = self._dims
        return f"{t} tenants x {g} targets x {m} models x {s} subjects x {w} times = {len(self):,} inputs"
