"""Facts precomputed for the policy pack, per entity and once per revision (see the package doc)."""

from __future__ import annotations

from broker.policy.datadoc.common import JSON, MACAU
from broker.policy.datadoc.entities import _unknown_jurisdiction
from registry.model import (
    OfacProgram,
)

# --- facts precomputed for the policy pack ------------------------------------------------------
#
# Each function below mirrors one rule of rego/tollgate/routing/ and says which. Messages are
# built exactly as the Rego did (same words, same order), so decisions do not change.

EMBARGO_GROUPS = ("E:1", "E:2")  # bar any model (sanctions.rego)
FRONTIER_GROUP = "D:5"  # bars closed frontier models only (sanctions.rego)
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
