"""Change relevance: which registry fields a policy change can read.

Both versions' serving modules are parsed (regoast.py). A rule is *changed* when its definitions
differ once layout is stripped, or it exists in one version only. Over the rules the decision
reaches (``data.tollgate.routing.decision`` and what it calls, in either version):

* DOWN: the changed rules and everything they call (both versions). Read in full.
* UP: the rules that call a changed rule, directly or not. Read in part: every statement except
  comprehensions that cannot see the change -- they call no changed or UP rule, read no variable
  that does -- and whose value only flows into the rule's output (its head, or ``|`` merges and
  assignments that end there) or nowhere at all. Such a comprehension (another concern's
  reasons, the obligations) gives the same value in both versions for any input, and the output
  shows it next to the changed part, so it cannot make two inputs differ in *whether* base and
  candidate differ. What only feeds the decision's ``valid_until_ns`` is read by nothing: the
  flag of the impact matrix compares allow, reasons and obligations.
* support: rules that kept UP statements call without reaching the change. Read in full.

readset.py then lists the field names those parts read (:class:`~broker.lifecycle.impact.relevance.tags.Fields`).
Anything not understood -- a parse error, ``with``, ``data[...]`` where rules live, a record
read as a whole or through a computed key, different policy data -- gives no projection (the
caller evaluates every fact).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from broker.engine.interface import DECISION_RULE
from broker.lifecycle.impact.relevance.readset import Reader
from broker.lifecycle.impact.relevance.regoast import (
    Definition,
    Node,
    Program,
    RuleKey,
    Unsupported,
    declared,
    head_parts,
    parse,
    pattern_vars,
    references,
)
from broker.lifecycle.impact.relevance.tags import Fields
from broker.lifecycle.impact.relevance.units import Unit, body_units, keep

log = structlog.get_logger(__name__)
_DECISION = DECISION_RULE.split(".")[1:]  # data.<package>.<rule>
ENTRY: RuleKey = (".".join(_DECISION[:-1]), _DECISION[-1])
# Decision fields the impact flag does not compare (the matrix reads them from the representative).
UNCOMPARED = frozenset({"valid_until_ns"})


@dataclass(frozen=True)
class Relevance:
    changed: tuple[str, ...]  # "package.rule"
    fields: Fields
    down: frozenset[RuleKey] = frozenset()
    up: frozenset[RuleKey] = frozenset()


def _closure(start: Iterable[RuleKey], edges: Mapping[RuleKey, set[RuleKey]]) -> set[RuleKey]:
    out, todo = set(start), list(start)
    while todo:
        for nxt in edges.get(todo.pop(), set()):
            if nxt not in out:
                out.add(nxt)
                todo.append(nxt)
    return out


def _uncompared(program: Program) -> set[RuleKey]:
    """Rules whose object-literal values are the decision itself (``UNCOMPARED`` fields are
    then not read): the entry, and a function that the entry's head terms alone call."""
    out = {ENTRY}
    callees: set[RuleKey] = set()
    for d in program.rules.get(ENTRY, []):
        for query, terms in head_parts(d)[2]:
            for term in terms:
                call = term.get("Call") if isinstance(term, dict) else None
                if call is not None:
                    callees |= references(program, d, call["fcn"], frozenset(declared(query)))
    for f in callees:
        elsewhere = any(
            f in references(program, d, p)
            for key, defs in program.rules.items() if key != f for d in defs
            for p in (_non_head(d) if key == ENTRY else [d.node])
        )
        if not elsewhere:
            out.add(f)
    return out


def _non_head(d: Definition) -> list[Node]:
    """What of an entry definition is not a direct call in a head term: queries, call arguments."""
    _, params, bodies = head_parts(d)
    out: list[Node] = [params]
    for query, terms in bodies:
        out.append(query)
        out.extend(t["Call"]["params"] if isinstance(t, dict) and "Call" in t else t for t in terms)
    return out


def _without_uncompared(terms: list[Node]) -> list[Node]:
    out = []
    for term in terms:
        if isinstance(term, dict) and "Object" in term:
            fields = [[k, {"Null": {"value": None}} if k.get("String", {}).get("value") in UNCOMPARED else v]
                      for k, v in term["Object"]["fields"]]
            out.append({"Object": {"fields": fields}})
        else:
            out.append(term)
    return out


def _plan(program: Program, changed: set[RuleKey], down: set[RuleKey], up: set[RuleKey],
          uncompared: set[RuleKey]) -> list[tuple[Definition, list[tuple[frozenset[str], list[Unit]]]]]:
    """Per definition to read: per body, (its parameters, the kept units)."""
    hot = changed | up
    plan: list[tuple[Definition, list[tuple[frozenset[str], list[Unit]]]]] = []
    todo = sorted(down | up)
    seen = set(todo)
    while todo:
        key = todo.pop()
        whole = key in down or key not in up
        for d in program.rules.get(key, []):
            _, params, bodies = head_parts(d)
            args = frozenset(v for p in params for v in pattern_vars(p))
            parts = []
            for query, terms in bodies:
                produced = _without_uncompared(terms) if key in uncompared else terms
                units = keep(body_units(program, d, query, produced, args), hot, whole=whole)
                parts.append((args, units))
                for u in units:
                    for ref in u.refs - seen:  # support: what the kept parts call
                        seen.add(ref)
                        todo.append(ref)
            plan.append((d, parts))
    return plan


def analyse(base: Mapping[str, str], candidate: Mapping[str, str]) -> Relevance:
    """What the change from ``base`` to ``candidate`` can read. Raises Unsupported."""
    programs = [parse(base), parse(candidate)]
    keys = set(programs[0].rules) | set(programs[1].rules)
    changed = {k for k in keys if programs[0].fingerprint(k) != programs[1].fingerprint(k)}
    edges: dict[RuleKey, set[RuleKey]] = {}
    for program in programs:
        for key, defs in program.rules.items():
            for d in defs:
                edges.setdefault(key, set()).update(references(program, d))
    reach = _closure([ENTRY], edges)
    changed &= reach
    down = _closure(changed, edges) & reach
    callers: dict[RuleKey, set[RuleKey]] = {}
    for src, dsts in edges.items():
        for dst in dsts:
            callers.setdefault(dst, set()).add(src)
    up = (_closure(changed, callers) - changed) & reach
    reader = Reader()
    for program in programs:
        reader.add(program, _plan(program, changed, down, up, _uncompared(program)))
    return Relevance(tuple(sorted(f"{p}.{n}" for p, n in changed)), reader.run(), frozenset(down), frozenset(up))


def try_analyse(base: Mapping[str, str] | None, candidate: Mapping[str, str],
                base_data: Mapping[str, Any], candidate_data: Mapping[str, Any]) -> Relevance | str:
    """The analysis, or why there is none (then every fact counts)."""
    if base is None:
        return "no active version: every decision is new"
    if dict(base_data) != dict(candidate_data):
        return "policy data differs between the versions"
    try:
        return analyse(base, candidate)
    except Unsupported as exc:
        return str(exc)
    except RecursionError:
        return "policy nesting too deep to analyse"
    except Exception as exc:  # an AST shape this analysis has not met: the exact path is always right
        log.warning("impact.relevance_failed", error=repr(exc))
        return f"the analysis failed ({type(exc).__name__}); every class is evaluated"


