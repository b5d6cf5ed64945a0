"""The registry's entities as the data document holds them: jurisdictions resolved (HK and MO
treated as CN), regions, targets (a region is a scope of one), providers, models, tenants."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from broker.policy.datadoc.common import JSON, MACAU, _flag, _iso, _ns, _window, source_text
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
    Tenant,
)


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
