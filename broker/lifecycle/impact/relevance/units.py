"""A rule body as units that the change-relevance analysis keeps or drops (see relevance/).

Units: the head terms a body produces, each top-level statement, and -- for a statement
``v := a | {x | ...} | [y | ...]`` (a *merge*: comprehensions and variables joined by ``|``) --
a *shell* binding ``v`` to the variables plus one *operand* per comprehension, so that a
comprehension can be dropped on its own. :func:`keep` decides which units can matter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from broker.lifecycle.impact.relevance.regoast import (
    COMPREHENSIONS,
    Definition,
    Node,
    Program,
    RuleKey,
    chains,
    declared,
    flatten,
    pattern_vars,
    references,
    var_name,
)


@dataclass
class Unit:
    """A part of a rule body that relevance keeps or drops as a whole.

    ``head``: the terms the body produces. ``stmt``: one top-level statement. A statement
    ``v := a | {x | ...} | [y | ...]`` (a *merge*: comprehensions and variables joined by ``|``)
    becomes a ``shell`` (v bound to the variables) and one ``operand`` unit per comprehension, so
    a comprehension can be dropped on its own.
    """

    kind: str  # "head" | "stmt" | "shell" | "operand"
    nodes: list[Node]
    var: str | None = None  # what a shell, operand or `v := ...` statement defines
    uses: set[str] = field(default_factory=set)
    binds: set[str] = field(default_factory=set)
    refs: set[RuleKey] = field(default_factory=set)


def _leaves(node: Node) -> list[Node] | None:
    """The operands of a merge expression, or None when ``node`` is not one."""
    if isinstance(node, dict) and "BinExpr" in node and node["BinExpr"]["op"] == "Union":
        left, right = _leaves(node["BinExpr"]["lhs"]), _leaves(node["BinExpr"]["rhs"])
        return None if left is None or right is None else left + right
    if isinstance(node, dict) and (any(k in node for k in COMPREHENSIONS) or "Var" in node):
        return [node]
    call = node.get("Call") if isinstance(node, dict) else None
    if call is not None and var_name(call["fcn"]) == "set" and not call["params"]:
        return [node]  # set()
    return None


def _vars(node: Node) -> set[str]:
    return {name for chain, _ in chains(node, frozenset()) if (name := var_name(flatten(chain)[0]))}


def body_units(program: Program, definition: Definition, query: Node, terms: list[Node],
               args: frozenset[str]) -> list[Unit]:
    """The units of one body (its head terms first)."""
    scope = args | declared(query)
    units = [Unit("head", list(terms))]
    for stmt in query["stmts"]:
        lit = stmt["literal"]
        assign = lit.get("Expr", {}).get("expr", {}).get("AssignExpr")
        if assign and not stmt.get("with_mods"):
            lhs, rhs = assign["lhs"], assign["rhs"]
            if var_name(lhs) is None and assign["op"] == "Eq":
                lhs, rhs = rhs, lhs
            var = var_name(lhs)
            leaves = _leaves(rhs) if var not in (None, "_") else None
            if var and leaves is not None and any(var_name(x) is None for x in leaves):
                units.append(Unit("shell", [x for x in leaves if var_name(x)], var, binds={var}))
                units.extend(Unit("operand", [x], var, binds={var}) for x in leaves if var_name(x) is None)
                continue
            binds = pattern_vars(lhs) | (pattern_vars(rhs) if assign["op"] == "Eq" else set())
            units.append(Unit("stmt", [stmt], var if var != "_" else None, binds=binds))
            continue
        binds = pattern_vars(lit["SomeIn"]["value"]) | pattern_vars(lit["SomeIn"]["key"]) if "SomeIn" in lit else set()
        units.append(Unit("stmt", [stmt], binds=binds))
    for unit in units:
        unit.uses = _vars(unit.nodes) - unit.binds if unit.kind != "head" else _vars(unit.nodes)
        unit.refs = references(program, definition, unit.nodes, scope)
    return units


def _flow_and_dead(units: list[Unit], kept: list[Unit]) -> tuple[set[str], set[str]]:
    """Variables whose value only reaches the output (flow) or nothing that counts (dead)."""
    defined = {u.var for u in units if u.var is not None}
    head_uses = set().union(*(u.uses for u in kept if u.kind == "head"))

    def users(x: str) -> list[Unit]:
        return [u for u in kept if x in u.uses and u.var != x]

    dead = set(defined)
    changed = True
    while changed:
        changed = False
        for x in sorted(dead):
            if any(u.var not in dead or u.kind == "head" for u in users(x)):
                dead.discard(x)
                changed = True
    flow = set(defined)
    changed = True
    while changed:
        changed = False
        for x in sorted(flow):
            ok = all(
                u.kind == "head"
                or u.var in dead
                or (u.kind == "shell" and u.var in flow)
                or (u.kind == "stmt" and u.var in flow and x in head_uses)
                for u in users(x)
            )
            if not ok:
                flow.discard(x)
                changed = True
    return flow, dead


def keep(units: list[Unit], hot: set[RuleKey], *, whole: bool) -> list[Unit]:
    """The units of one body that can matter for the change (``whole``: a DOWN or support rule).

    Statements, shells and head terms always stay (a statement may also be a test). An operand
    stays when its variable is not dead and -- in an UP rule -- when it reaches the change
    (calls a rule in ``hot`` or reads a variable that does) or its variable is not flow-only.
    The least set closed under that rule: each kept operand is justified by kept units.
    """
    tainted: set[str] = set()
    reach: set[int] = set()
    grew = True
    while grew:
        grew = False
        for i, u in enumerate(units):
            if i not in reach and (u.refs & hot or u.uses & tainted):
                reach.add(i)
                tainted |= u.binds
                grew = True
    fixed = [u for u in units if u.kind != "operand"]
    kept: list[Unit] = fixed
    while True:
        flow, dead = _flow_and_dead(units, kept)
        wanted = fixed + [
            u for i, u in enumerate(units)
            if u.kind == "operand" and u.var not in dead and (whole or i in reach or u.var not in flow)
        ]
        if len(wanted) == len(kept):  # only grows: the same length is the same set
            return wanted
        kept = wanted
