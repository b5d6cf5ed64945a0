"""Compile a registry revision into the ``data`` document the default policy pack reads.

Layout (everything under ``data.tollgate.registry``; the policies live in ``data.tollgate.routing``)::

    schema          int, bumped on any incompatible layout change
    jurisdictions   {code: RJ}            RJ = resolved jurisdiction (below)
    regions         {region id: REGION}
    targets         {region id | scope id: TARGET}   a plain region is a scope of one
    providers       {provider id: PROVIDER}
    models          {model id: MODEL}
    tenants         {tenant id: TENANT}

Why this shape:

* Objects keyed by id, so every policy lookup is O(1) (OPA performance guide) and a decision's cost
  does not grow with the number of tenants or models.
* Jurisdictions are resolved here, once per revision, rather than in Rego on every request: HK and
  MO are ``treated_as`` CN for EAR purposes, so their EAR-group and OFAC windows are the union of
  their own and the effective jurisdiction's (a union can only add restrictions: fail closed).
  EU/EFTA membership stays the jurisdiction's own.
* All instants are integer nanoseconds since the Unix epoch (``*_ns``) next to their ISO text.
  regopy returns undefined for ``time.parse_rfc3339_ns`` on ``...Z`` strings, so the policies never
  parse dates; both engines keep ~1.8e18 integers exact through their JSON APIs (checked in
  tests/policy/test_datadoc.py). Windows are half-open ``[since_ns, until_ns)``; ``null`` means
  unbounded. A ``date`` is midnight UTC at its start.
* Every fact keeps its source as one human-readable string (``source``) so reason messages can
  name it without any formatting logic in Rego.

Precomputed for the policy (``_policy_*`` in ``facts.py``; derived from the facts above, nothing new). In
regorus every rule the pack evaluates costs microseconds even when it fails at once, so the work
that depends on one entity only is done here, once per revision, and the pack does a few lookups:

* ``party_facts`` on tenants (HQ and parent), targets (member regions) and jurisdictions (as a
  subject nationality): one entry per fact that can bar that party, ``{group, after, before,
  message, facts}``. ``group`` is ``OFAC comprehensive``, ``E:1``, ``E:2``, ``D:5`` or ``Macau``;
  the pack decides what each group bars. ``after``/``before`` hold the window's
  ``since_ns``/``until_ns`` when set (``[]`` when unbounded); the pack tests
  ``every t in after {t <= now}`` and ``every t in before {now < t}``, so decisions stay
  time-dependent and replayable at any ``now_ns``. ``message``/``facts`` are the reason's text and
  facts with the fact's source; for D:5 and Macau the pack prefixes the model's
  ``frontier_head`` and adds its ``frontier_basis``. Targets also list ``unknown_members``.
* ``edges`` on tenants, targets, jurisdictions and models: the sorted instants (ns) of every
  window the pack reads for that entity, for ``valid_until_ns``.
* models: ``closed_frontier``, ``frontier_basis``, ``deployed_targets``; provider customer
  restrictions: ``match`` (the codes a restriction covers, by own code or EAR treatment).
* ``after``/``before`` (schema 3) next to the dates of every other window the pack tests: model
  export restrictions ``[effective, lifted)``, trusted-partner designations ``[since, until)``,
  provider customer restrictions and the Entity-List entry (from ``since``). Same encoding as
  in ``party_facts``, so every window is tested inline, without a function call or null check.

Only ever add fields: a stored older policy version (lifecycle rollback) reads the document the
running broker compiles, so a field it reads must not disappear or change meaning.
"""

from __future__ import annotations

from typing import Any

from broker.policy.datadoc.common import date_ns, datetime_ns
from broker.policy.datadoc.entities import (
    _model,
    _provider,
    _referenced_codes,
    _region,
    _targets,
    _tenant,
    resolve_jurisdiction,
)
from broker.policy.datadoc.facts import (
    _policy_jurisdiction,
    _policy_model,
    _policy_provider,
    _policy_target,
    _policy_tenant,
)
from registry.model import Registry

__all__ = ["SCHEMA", "compile_data_document", "date_ns", "datetime_ns", "window_edges"]

SCHEMA = 3


def compile_data_document(reg: Registry) -> dict[str, Any]:
    """The ``data`` document for ``reg``: ``{"tollgate": {"registry": {...}}}`` (see module doc)."""
    resolved = {code: resolve_jurisdiction(reg, code) for code in sorted(set(_referenced_codes(reg)))}
    regions = {rid: _region(r, resolved, reg) for rid, r in sorted(reg.regions.items())}
    providers = {pid: _policy_provider(_provider(p), resolved) for pid, p in sorted(reg.providers.items())}
    return {
        "tollgate": {
            "registry": {
                "schema": SCHEMA,
                "jurisdictions": {code: _policy_jurisdiction(code, j) for code, j in resolved.items()},
                "regions": regions,
                "targets": {tid: _policy_target(t) for tid, t in _targets(reg, regions).items()},
                "providers": providers,
                "models": {mid: _policy_model(_model(m), providers) for mid, m in sorted(reg.models.items())},
                "tenants": {tid: _policy_tenant(_tenant(t), resolved) for tid, t in sorted(reg.tenants.items())},
            }
        }
    }


def window_edges(doc: dict[str, Any]) -> set[int]:
    """Every instant (ns) at which some fact of the compiled document starts or stops holding.

    Used by the decision matrix to evaluate "at each window edge"; the policy computes its own,
    narrower set per decision for ``valid_until_ns``.
    """
    edges: set[int] = set()

    def add(obj: Any) -> None:
        if isinstance(obj, dict):
            for key, value in obj.items():
                if key.endswith("_ns") and isinstance(value, int) and not isinstance(value, bool):
                    edges.add(value)
                else:
                    add(value)
        elif isinstance(obj, list):
            for item in obj:
                add(item)

    add(doc)
    return edges
