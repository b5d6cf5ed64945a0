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

Precomputed for the policy (``_policy_*`` below; derived from the facts above, nothing new). In
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

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from registry.model import (
    EAR_GROUPS,
    CloudRegion,
    CoveredFrontier,
    ExportRestriction,
    Jurisdiction,
    Model,
    OfacProgram,
    Provider,
    Registry,
    Source,
    SourcedFlag,
    Tenant,
)

SCHEMA = 3
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_DAY = 86_400 * 10**9
UNSOURCED = "no source recorded"

JSON = dict[str, Any]


# --- time ---------------------------------------------------------------------------------------


def date_ns(value: date) -> int:
    """Midnight UTC at the start of ``value``, in integer nanoseconds since the epoch."""
    return (value - date(1970, 1, 1)).days * _NS_PER_DAY


def datetime_ns(value: datetime) -> int:
    """An aware ``datetime`` in integer nanoseconds (exact: no float round trip)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: registry instants must carry a time zone")
    delta: timedelta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1_000


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()


def _ns(value: date | datetime | None) -> int | None:
    if value is None:
        return None
    return datetime_ns(value) if isinstance(value, datetime) else date_ns(value)


def _window(since: date | datetime | None, until: date | datetime | None) -> JSON:
    return {"since": _iso(since), "since_ns": _ns(since), "until": _iso(until), "until_ns": _ns(until)}


# --- sources and flags --------------------------------------------------------------------------


def source_text(source: Source | None, *, demo: bool = False) -> str:
    """One line naming a source: ``ref [confidence; as of YYYY-MM-DD]``."""
    if source is None:
        return "demo data (not a sourced fact)" if demo else UNSOURCED
    detail = source.confidence.value
    if source.as_of is not None:
        detail += f"; as of {source.as_of.isoformat()}"
    text = f"{source.ref} [{detail}]"
    return f"{text} (demo data)" if demo else text


def _flag(flag: SourcedFlag | None) -> JSON | None:
    return None if flag is None else {"value": flag.value, "source": source_text(flag.source)}


# --- jurisdictions ------------------------------------------------------------------------------


def _unknown_jurisdiction(code: str) -> JSON:
    return {
        "code": code,
        "known": False,
        "name": code,
        "effective": code,
        "treated_as": None,
        "ear_groups": {},
        "ofac": {},
        "eu_member": None,
        "efta": None,
    }


def resolve_jurisdiction(reg: Registry, code: str) -> JSON:
    """The jurisdiction ``code`` with its treatment applied (see the module docstring)."""
    own = reg.jurisdictions.get(code)
    if own is None:
        return _unknown_jurisdiction(code)
    chain: list[Jurisdiction] = [own]
    seen = {own.code}
    cursor = own
    # Follow treated_as to its end (one hop in practice); a cycle stops rather than loops.
    while cursor.treated_as is not None and cursor.treated_as.jurisdiction not in seen:
        nxt = reg.jurisdictions.get(cursor.treated_as.jurisdiction)
        if nxt is None:
            break
        chain.append(nxt)
        seen.add(nxt.code)
        cursor = nxt
    groups: dict[str, list[JSON]] = {}
    ofac: dict[str, list[JSON]] = {}
    for j in chain:
        for m in j.ear_groups:
            if m.historical or m.group not in EAR_GROUPS:
                continue  # rescinded AI-diffusion tiers etc. are kept for history, never enforced
            entry = _window(m.since, m.until) | {
                "group": m.group,
                "via": j.code,
                "source": source_text(m.source),
            }
            groups.setdefault(m.group, []).append(entry)
        for o in j.ofac:
            if o.program == OfacProgram.NONE:
                continue
            entry = _window(o.since, o.until) | {
                "program": o.program.value,
                "via": j.code,
                "source": source_text(o.source),
            }
            ofac.setdefault(o.program.value, []).append(entry)
    treated = own.treated_as
    return {
        "code": own.code,
        "known": True,
        "name": own.name,
        "effective": cursor.code,
        "treated_as": None
        if treated is None
        else {"jurisdiction": treated.jurisdiction, "source": source_text(treated.source)},
        "ear_groups": groups,
        "ofac": ofac,
        "eu_member": _flag(own.eu_member),
        "efta": _flag(own.efta),
    }


# --- regions and targets ------------------------------------------------------------------------


def _region(region: CloudRegion, jurisdictions: dict[str, JSON], reg: Registry) -> JSON:
    juris = jurisdictions.get(region.country) or resolve_jurisdiction(reg, region.country)
    return {
        "region": region.id,
        "known": True,
        "cloud": region.cloud.value,
        "code": region.code,
        "partition": region.partition,
        "country": region.country,
        "city": region.city,
        "name": region.name,
        "restricted_access": region.restricted_access,
        "source": source_text(region.source),
        "jurisdiction": juris,
    }


def _unknown_region(region_id: str) -> JSON:
    return {"region": region_id, "known": False}


def _targets(reg: Registry, regions: dict[str, JSON]) -> dict[str, JSON]:
    targets: dict[str, JSON] = {}
    for rid, facts in regions.items():
        targets[rid] = {
            "id": rid,
            "kind": "region",
            "name": facts["name"] or rid,
            "members": [rid],
            "member_facts": [facts],
            "global": False,
            "source": facts["source"],
        }
    for sid, scope in reg.scopes.items():
        # A scope and a region never share an id (different id grammars), but guard anyway:
        # silently replacing a region would change every decision about it.
        if sid in targets:
            raise ValueError(f"routing scope id {sid!r} collides with a region id")
        targets[sid] = {
            "id": sid,
            "kind": scope.kind.value,
            "name": scope.name,
            "members": list(scope.members),
            "member_facts": [regions.get(m) or _unknown_region(m) for m in scope.members],
            "global": scope.global_scope,
            "source": source_text(scope.source),
        }
    return targets


# --- providers, models, tenants -----------------------------------------------------------------


def _provider(p: Provider) -> JSON:
    entity = None
    if p.entity_list is not None:
        entity = {
            "value": p.entity_list.value,
            "source": source_text(p.entity_list.source),
            "since": _iso(p.entity_list_since),
            "since_ns": _ns(p.entity_list_since),
        }
    return {
        "id": p.id,
        "name": p.name,
        "hq_country": p.hq_country,
        "ultimate_parent_country": p.ultimate_parent_country,
        "hq_source": source_text(p.hq_source),
        "entity_list": entity,
        "customer_restrictions": [
            {
                "kind": r.kind,
                "countries": sorted(r.countries),
                "min_ownership_share": r.min_ownership_share,
                "since": _iso(r.since),
                "since_ns": _ns(r.since),
                "source": source_text(r.source),
            }
            for r in p.customer_restrictions
        ],
    }


def _restriction(r: ExportRestriction) -> JSON:
    effective = r.effective if r.effective is not None else r.issued
    exempt = r.trusted_partner_exempt_since
    return {
        "id": r.id,
        "kind": r.kind,
        "scope": r.scope,
        "issued": r.issued.isoformat(),
        "effective": _iso(effective),
        "effective_ns": _ns(effective),
        "lifted": _iso(r.lifted),
        "lifted_ns": _ns(r.lifted),
        "trusted_partner_exempt_since": _iso(exempt),
        "trusted_partner_exempt_since_ns": _ns(exempt),
        "source": source_text(r.source),
        "exemption_source": None if r.exemption_source is None else source_text(r.exemption_source),
    }


def _covered(cf: CoveredFrontier | None) -> JSON | None:
    if cf is None:
        return None
    out: JSON = {"designated": cf.designated, "source": source_text(cf.source)}
    for name in ("government_access", "trusted_partner_release", "public_release"):
        value: datetime | None = getattr(cf, name)
        out[name] = _iso(value)
        out[f"{name}_ns"] = _ns(value)
    return out


def _model(m: Model) -> JSON:
    deployments: dict[str, list[JSON]] = {}
    for d in m.deployments:
        deployments.setdefault(d.target, []).append(
            {
                "platform_model_id": d.platform_model_id,
                "source": source_text(d.source, demo=False) + (" (demo data)" if d.demo else ""),
                "demo": d.demo,
            }
        )
    partners: dict[str, list[JSON]] = {}
    for tp in m.trusted_partners:
        partners.setdefault(tp.tenant, []).append(
            _window(tp.since, tp.until) | {"source": source_text(tp.source, demo=tp.demo)}
        )
    return {
        "id": m.id,
        "name": m.name,
        "provider": m.provider,
        "weights": m.weights.value,
        "closed": m.weights.value == "closed",
        "training_compute_flop": m.training_compute_flop,
        "eccn": m.eccn,
        "deployments": deployments,
        "export_restrictions": [_restriction(r) for r in m.export_restrictions],
        "covered_frontier": _covered(m.covered_frontier),
        "trusted_partners": partners,
        "eu_gpai_systemic_risk": _flag(m.eu_gpai_systemic_risk),
        "cn_genai_filed": _flag(m.cn_genai_filed),
        "source": source_text(m.source, demo=m.demo),
        "demo": m.demo,
    }


def _tenant(t: Tenant) -> JSON:
    return {
        "id": t.id,
        "name": t.name,
        "hq_country": t.hq_country,
        "parent_country": t.parent_country,
        "parent_ownership_share": t.parent_ownership_share,
        "residency": {"kind": t.residency.kind, "countries": sorted(t.residency.countries)},
        "government": t.government,
        "public_facing": t.public_facing,
        "suspended": t.suspended,
        "sanctioned": t.sanctioned,
        "demo": t.demo,
        # Tenants are customer data, not outside facts: their "source" is the registry record.
        "source": f"tenant record {t.id}" + (" (demo data)" if t.demo else ""),
    }


def _referenced_codes(reg: Registry) -> Iterable[str]:
    yield from reg.jurisdictions
    # The pack names Macau by code (the D:5-or-Macau rule), so its entry exists even when the
    # registry lacks it: a subject nationality "MO" must still find its (Macau) check.
    yield MACAU
    for t in reg.tenants.values():
        yield t.hq_country
        if t.parent_country:
            yield t.parent_country


# --- facts precomputed for the policy pack ------------------------------------------------------
#
# Each function below mirrors one rule of rego/tollgate/routing/ and says which. Messages are
# built exactly as the Rego did (same words, same order), so decisions do not change.

EMBARGO_GROUPS = ("E:1", "E:2")  # bar any model (sanctions.rego)
FRONTIER_GROUP = "D:5"  # bars closed frontier models only (sanctions.rego)
MACAU = "MO"  # treated with D:5 by the advanced-computing rules
EDGE_GROUPS = (*EMBARGO_GROUPS, FRONTIER_GROUP)  # the EAR windows valid_until_ns reads
OFAC_PROGRAM = OfacProgram.COMPREHENSIVE.value
OFAC_GROUP = "OFAC comprehensive"  # the group label of an OFAC programme window in party_facts


def _in_force(since_ns: int | None, until_ns: int | None) -> JSON:
    """A window ``[since_ns, until_ns)`` as the pack tests it: ``after`` = [since_ns] and
    ``before`` = [until_ns] when set, ``[]`` when unbounded. The pack reads it with two inline
    tests, ``every t in w.after {t <= now}`` and ``every t in w.before {now < t}``: no function
    call and no null check per window (regorus charges microseconds for each call)."""
    return {
        "after": [] if since_ns is None else [since_ns],
        "before": [] if until_ns is None else [until_ns],
    }


def _bounds(w: JSON) -> JSON:
    """The window of ``w`` (``since_ns``/``until_ns``) as the pack tests it (see ``_in_force``)."""
    return _in_force(w["since_ns"], w["until_ns"])


def _via_text(code: str, w: JSON) -> str:
    return "" if w["via"] == code else f" (treated as {w['via']})"


def _window_text(w: JSON) -> str:
    if w["since"] is not None and w["until"] is not None:
        return f" from {w['since']} until {w['until']}"
    if w["since"] is not None:
        return f" since {w['since']}"
    if w["until"] is not None:
        return f" until {w['until']}"
    return ""


def _fact(group: str, w: JSON | None, message: str, facts: JSON) -> JSON:
    bounds = {"after": [], "before": []} if w is None else _bounds(w)
    return {"group": group} | bounds | {"message": message, "facts": facts}


def _party_facts(role: str, code: str, juris: JSON, party_source: str) -> list[JSON]:
    """Every fact that can bar this party, labelled by ``group`` (read by sanctions.rego).

    ``OFAC comprehensive``, ``E:1``, ``E:2``: message and facts final. ``D:5``, ``Macau``: the
    message continues the model's ``frontier_head`` and the model's ``frontier_facts`` are added.
    """
    out: list[JSON] = []
    party = f"{role} {code}"
    for w in juris["ofac"].get(OFAC_PROGRAM, []):
        message = (
            f"The {party} is under an OFAC comprehensive sanctions programme"
            f"{_via_text(code, w)}{_window_text(w)} (source: {w['source']})."
        )
        facts = {
            "party": role,
            "jurisdiction": code,
            "via": w["via"],
            "program": OFAC_PROGRAM,
            "since": w["since"],
            "until": w["until"],
            "source": w["source"],
        }
        out.append(_fact(OFAC_GROUP, w, message, facts))
    for group in EMBARGO_GROUPS:
        for w in juris["ear_groups"].get(group, []):
            message = (
                f"The {party} is in EAR country group {w['group']}"
                f"{_via_text(code, w)}{_window_text(w)} (source: {w['source']})."
            )
            facts = {
                "party": role,
                "jurisdiction": code,
                "via": w["via"],
                "group": w["group"],
                "since": w["since"],
                "until": w["until"],
                "source": w["source"],
            }
            out.append(_fact(group, w, message, facts))
    for w in juris["ear_groups"].get(FRONTIER_GROUP, []):
        message = f"{party} is in EAR country group D:5{_via_text(code, w)}{_window_text(w)} (source: {w['source']})."
        facts = {
            "party": role,
            "jurisdiction": code,
            "via": w["via"],
            "group": "D:5",
            "since": w["since"],
            "until": w["until"],
            "source": w["source"],
        }
        out.append(_fact(FRONTIER_GROUP, w, message, facts))
    if MACAU in (code, juris["effective"]):
        message = f"{party} is Macau, which the advanced-computing rules treat with D:5 (source: {party_source})."
        facts = {"party": role, "jurisdiction": code, "group": "Macau", "source": party_source}
        out.append(_fact("Macau", None, message, facts))
    return out


def _juris_edges(juris: JSON) -> set[int]:
    windows = [w for g in EDGE_GROUPS for w in juris["ear_groups"].get(g, [])]
    windows += juris["ofac"].get(OFAC_PROGRAM, [])
    return {t for w in windows for t in (w["since_ns"], w["until_ns"]) if t is not None}


def _policy_jurisdiction(code: str, juris: JSON) -> JSON:
    """The jurisdiction as a subject nationality (the one party role whose source is fixed)."""
    facts = _party_facts("subject nationality", code, juris, "request input subject.nationalities")
    return juris | {"party_facts": facts, "edges": sorted(_juris_edges(juris))}


def _policy_tenant(out: JSON, jurisdictions: dict[str, JSON]) -> JSON:
    """The tenant's parties for sanctions.rego: headquarters and (if any) ultimate parent."""
    parties = [("tenant headquarters", out["hq_country"])]
    if out["parent_country"] is not None:
        parties.append(("tenant parent", out["parent_country"]))
    facts: list[JSON] = []
    edges: set[int] = set()
    for role, code in parties:
        juris = jurisdictions.get(code) or _unknown_jurisdiction(code)
        facts += _party_facts(role, code, juris, out["source"])
        edges |= _juris_edges(juris)
    return out | {"party_facts": facts, "edges": sorted(edges)}


def _policy_target(out: JSON) -> JSON:
    """The target's parties (member regions), and the members missing from the registry."""
    facts: list[JSON] = []
    edges: set[int] = set()
    for m in out["member_facts"]:
        if m["known"]:
            facts += _party_facts(f"member region {m['region']}", m["country"], m["jurisdiction"], m["source"])
            edges |= _juris_edges(m["jurisdiction"])
    unknown = [m["region"] for m in out["member_facts"] if not m["known"]]
    return out | {"unknown_members": unknown, "party_facts": facts, "edges": sorted(edges)}


def _policy_model(out: JSON, providers: dict[str, JSON]) -> JSON:
    """frontier.rego's closed-frontier class, deployment.rego's list, and the model's edges."""
    basis = []
    covered = out["covered_frontier"]
    if covered is not None and covered["designated"]:
        basis.append("covered frontier designation")
    if out["export_restrictions"]:
        basis.append("per-model export restriction")
    systemic = out["eu_gpai_systemic_risk"]
    if systemic is not None and systemic["value"]:
        basis.append("EU GPAI systemic risk")
    basis.sort()
    edges: set[int | None] = set()
    for x in out["export_restrictions"]:
        edges |= {x["effective_ns"], x["lifted_ns"], x["trusted_partner_exempt_since_ns"]}
    if covered is not None and covered["designated"]:
        edges |= {covered[f"{n}_ns"] for n in ("government_access", "trusted_partner_release", "public_release")}
    provider = providers.get(out["provider"])
    if provider is not None:
        if provider["entity_list"] is not None:
            edges.add(provider["entity_list"]["since_ns"])
        edges |= {c["since_ns"] for c in provider["customer_restrictions"]}
    # export.rego: a restriction is in force over [effective, lifted); frontier.rego and
    # export.rego: a trusted-partner designation over [since, until).
    restrictions = [x | _in_force(x["effective_ns"], x["lifted_ns"]) for x in out["export_restrictions"]]
    partners = {
        tenant: [w | _in_force(w["since_ns"], w["until_ns"]) for w in windows]
        for tenant, windows in out["trusted_partners"].items()
    }
    return out | {
        "export_restrictions": restrictions,
        "trusted_partners": partners,
        "closed_frontier": bool(out["closed"] and basis),
        "frontier_basis": basis,
        # sanctions.rego: a D:5 / Macau message starts with this and continues with the party.
        "frontier_head": f"Model {out['id']} is a closed frontier model ({', '.join(basis)}) and the ",
        "deployed_targets": sorted(out["deployments"]),
        "edges": sorted(t for t in edges if t is not None),
    }


def _policy_provider(out: JSON, jurisdictions: dict[str, JSON]) -> JSON:
    """provider.rego's listed(code, countries): by own code or by EAR treatment (HK as CN); and
    the windows in force from each restriction's and the Entity-List entry's date (unbounded
    when no date is recorded)."""
    restrictions = []
    for c in out["customer_restrictions"]:
        listed = set(c["countries"])
        match = listed | {code for code, j in jurisdictions.items() if j["effective"] in listed}
        restrictions.append(c | {"match": dict.fromkeys(sorted(match), True)} | _in_force(c["since_ns"], None))
    entity = out["entity_list"]
    if entity is not None:
        entity = entity | _in_force(entity["since_ns"], None)
    return out | {"customer_restrictions": restrictions, "entity_list": entity}


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
