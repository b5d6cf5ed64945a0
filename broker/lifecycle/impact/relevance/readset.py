"""Which field names the kept parts of a policy read, and how (for relevance/).

An abstract interpretation of the kept units (units.py) over tags (tags.py): every variable of
a body gets the tags of what it may hold -- rule parameters those of the arguments at every kept
call site, iterated to a fixpoint over both versions -- and every use of a value records, through
:class:`~broker.lifecycle.impact.relevance.tags.TagOps`, which field names it reads. Scopes follow Rego's:
``:=`` and ``some`` declare in their query and what it nests; a key variable bound nowhere makes
``x[k]`` an iteration, not a lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from broker.lifecycle.impact.relevance.regoast import (
    COMPREHENSIONS,
    Definition,
    Node,
    Program,
    RuleKey,
    Unsupported,
    constant_string,
    declared,
    flatten,
    head_parts,
    pattern_vars,
    resolve,
    var_name,
)
from broker.lifecycle.impact.relevance.tags import REGISTRY, TYPE_CHECKS, Fields, Lit, Tag, TagOps
from broker.lifecycle.impact.relevance.units import Unit


@dataclass
class _Scope:
    parent: _Scope | None
    declared: set[str]
    bound: set[str]  # assigned somewhere in this scope (a key var only declared by `some k` is not)
    vars: dict[str, set[Tag]] = field(default_factory=dict)


def _assigned(query: Node) -> set[str]:
    out: set[str] = set()
    for stmt in query["stmts"]:
        lit = stmt["literal"]
        if "SomeIn" in lit:
            out |= pattern_vars(lit["SomeIn"]["value"]) | pattern_vars(lit["SomeIn"]["key"])
        elif "Expr" in lit and "AssignExpr" in lit["Expr"]["expr"]:
            a = lit["Expr"]["expr"]["AssignExpr"]
            out |= pattern_vars(a["lhs"]) | (pattern_vars(a["rhs"]) if a["op"] == "Eq" else set())
    return out


class Reader(TagOps):
    """Collects :class:`Fields` over the kept units of both versions (see relevance/)."""

    def __init__(self) -> None:
        super().__init__()
        self.params: dict[tuple[RuleKey, int], set[Tag]] = {}
        self._plans: list[tuple[Program, list[tuple[Definition, list[tuple[frozenset[str], list[Unit]]]]]]] = []

    def add(self, program: Program, plan: list[tuple[Definition, list[tuple[frozenset[str], list[Unit]]]]]) -> None:
        self._plans.append((program, plan))

    def run(self) -> Fields:
        for _ in range(32):  # parameters flow from call sites: iterate to a fixpoint
            before = {k: set(v) for k, v in self.params.items()}
            for program, plan in self._plans:
                self._program = program
                for definition, bodies in plan:
                    for args, units in bodies:
                        self._body(definition, args, units)
            if self.params == before:
                return self.fields
        raise Unsupported("parameter tags did not settle")

    # --- bodies --------------------------------------------------------------------------------

    def _body(self, d: Definition, args: frozenset[str], units: list[Unit]) -> None:
        self._def = d
        self._scopes: dict[int, _Scope] = {}
        params = head_parts(d)[1]
        query = {"stmts": [s for u in units if u.kind == "stmt" for s in u.nodes]}
        defined = {u.var for u in units if u.var}
        top = _Scope(None, set(args) | declared(query) | defined, set(args) | _assigned(query) | defined)
        for _ in range(16):  # variables may be used before the statement binding them
            before = self._state(top)
            for i, p in enumerate(params):
                tags = self.params.get((d.key, i), set())
                if var_name(p) is not None:
                    self._bind(p, tags, top)
                elif pattern_vars(p) or not isinstance(p, dict):
                    raise Unsupported("a function parameter that is a pattern")
                else:
                    self.whole(tags)  # a constant parameter is compared with what is passed
            for u in units:
                if u.kind == "head":
                    for term in u.nodes:
                        self.whole(self._tags(term, top))
                elif u.kind == "stmt":
                    for s in u.nodes:
                        self._stmt(s, top)
                else:
                    assert u.var is not None
                    tags = set().union(*(self._tags(n, top) for n in u.nodes))
                    top.vars.setdefault(u.var, set()).update(tags)
            if self._state(top) == before:
                return
        raise Unsupported("variable tags did not settle")

    def _state(self, top: _Scope) -> list[dict[str, frozenset[Tag]]]:
        return [{k: frozenset(v) for k, v in s.vars.items()} for s in [top, *self._scopes.values()]]

    def _scope(self, query: Node, parent: _Scope) -> _Scope:
        scope = self._scopes.get(id(query))
        if scope is None:
            scope = _Scope(parent, declared(query), _assigned(query))
            self._scopes[id(query)] = scope
        return scope

    def _query(self, query: Node, parent: _Scope) -> _Scope:
        scope = self._scope(query, parent)
        for stmt in query["stmts"]:
            self._stmt(stmt, scope)
        return scope

    def _find(self, name: str, scope: _Scope) -> _Scope | None:
        s: _Scope | None = scope
        while s is not None:
            if name in s.declared or name in s.vars:
                return s
            s = s.parent
        return None

    def _is_bound(self, name: str, scope: _Scope) -> bool:
        s: _Scope | None = scope
        while s is not None:
            if name in s.bound:
                return True
            s = s.parent
        return False

    def _bind(self, pattern: Node, tags: set[Tag], scope: _Scope) -> None:
        name = var_name(pattern)
        if name is not None:
            if name != "_":
                (self._find(name, scope) or scope).vars.setdefault(name, set()).update(tags)
        elif isinstance(pattern, dict) and "Array" in pattern:
            elements = self.iterate(tags)[0]
            for item in pattern["Array"]["items"]:
                self._bind(item, elements, scope)
        elif isinstance(pattern, dict) and "Object" in pattern:
            for key, value in pattern["Object"]["fields"]:
                text = constant_string(key)
                if text is None:
                    raise Unsupported("an object pattern with a computed key")
                self._bind(value, self.field(tags, text), scope)
        else:
            self.whole(tags)  # a constant in a pattern: compared
            self.whole(self._tags(pattern, scope))

    def _stmt(self, stmt: Node, scope: _Scope) -> None:
        if stmt.get("with_mods"):
            raise Unsupported("`with` replaces data or input for part of a rule")
        lit = stmt["literal"]
        if "SomeIn" in lit:
            some = lit["SomeIn"]
            elements, keys = self.iterate(self._tags(some["collection"], scope))
            self._bind(some["value"], elements, scope)
            if some["key"] is not None:
                self._bind(some["key"], keys, scope)
        elif "Every" in lit:
            every = lit["Every"]
            inner = self._scope(every["query"], scope)
            inner.declared |= {every["value"], *([every["key"]] if every["key"] else [])}
            inner.bound |= inner.declared
            elements, keys = self.iterate(self._tags(every["domain"], scope))
            inner.vars.setdefault(every["value"], set()).update(elements)
            if every["key"]:
                inner.vars.setdefault(every["key"], set()).update(keys)
            self._query(every["query"], scope)
        elif "Expr" in lit or "NotExpr" in lit:
            expr = (lit.get("Expr") or lit["NotExpr"])["expr"]
            if "AssignExpr" in expr:
                a = expr["AssignExpr"]
                rhs = self._tags(a["rhs"], scope, pattern=a["op"] == "Eq")
                self._bind(a["lhs"], rhs, scope)
                if a["op"] == "Eq":  # unification: either side may bind, or both compare
                    lhs = self._tags(a["lhs"], scope, pattern=True)
                    self._bind(a["rhs"], lhs, scope)
                    self.whole(lhs | rhs)
            else:
                self.whole(self._tags(expr, scope))  # a test reads its value
        elif "SomeVars" not in lit:
            raise Unsupported(f"statement {next(iter(lit))}")

    # --- expressions ---------------------------------------------------------------------------

    def _tags(self, node: Node, scope: _Scope, *, pattern: bool = False) -> set[Tag]:
        if not isinstance(node, dict):
            return set()
        kind, body = next(iter(node.items()))
        if kind in ("String", "RawString", "Number", "Bool", "Null"):
            return set()
        if kind in ("Var", "RefDot", "RefBrack"):
            return self._ref(node, scope, pattern=pattern)
        if kind == "Call":
            return self._call(body, scope)
        if kind in ("Array", "Set"):
            return {Lit(frozenset(t for item in body["items"] for t in self._tags(item, scope, pattern=pattern)))}
        if kind == "Object":
            for key, _ in body["fields"]:
                self.whole(self._tags(key, scope))
            return {Lit(frozenset(t for _, v in body["fields"] for t in self._tags(v, scope, pattern=pattern)))}
        if kind in COMPREHENSIONS:
            inner = self._query(body["query"], scope)
            if kind == "ObjectCompr":
                self.whole(self._tags(body["key"], inner))
                return {Lit(frozenset(self._tags(body["value"], inner)))}
            return {Lit(frozenset(self._tags(body["term"], inner)))}
        if kind == "BinExpr" and body["op"] == "Union":  # elements pass through unread
            return self._tags(body["lhs"], scope) | self._tags(body["rhs"], scope)
        if kind == "BoolExpr" and any(isinstance(s, dict) and "Null" in s for s in (body["lhs"], body["rhs"])):
            for side in (body["lhs"], body["rhs"]):
                self.typecheck(self._tags(side, scope))
            return set()
        if kind in ("BinExpr", "BoolExpr", "ArithExpr"):
            self.whole(self._tags(body["lhs"], scope))
            self.whole(self._tags(body["rhs"], scope))
            return set()
        if kind == "UnaryExpr":
            self.whole(self._tags(body["expr"], scope))
            return set()
        if kind == "Membership":
            for part in (body["key"], body["value"], body["collection"]):
                self.whole(self._tags(part, scope))
            return set()
        raise Unsupported(f"expression {kind}")

    def _ref(self, node: Node, scope: _Scope, *, pattern: bool) -> set[Tag]:
        root, parts = flatten(node)
        name = var_name(root)
        cur: set[Tag]
        if name is None:
            cur = self._tags(root, scope)
        elif name == "_" or (pattern and not parts and self._find(name, scope) is None):
            return set()  # a wildcard, or a variable this pattern declares
        elif self._find(name, scope) is not None:
            cur = set(self._find(name, scope).vars.get(name, set()))  # type: ignore[union-attr]
        elif name == "input":
            cur = {"input"}
        elif name == "data" or name in self._def.module.aliases:
            cur, parts = self._data(name, parts)
        else:
            cur = set()  # a rule's value (its reads count where it is defined) or a builtin's name
        for kind, part in parts:
            text = part if kind == "dot" else constant_string(part)
            if isinstance(text, str):
                cur = self.field(cur, text)
            elif isinstance(part, dict) and "Number" in part:
                cur = self.numbered(cur)
            else:
                self.whole(self._tags(part, scope))
                cur = self._keyed(cur, part, scope)
        return cur

    def _data(self, name: str, parts: list[tuple[str, Node]]) -> tuple[set[Tag], list[tuple[str, Node]]]:
        """A ref into data: the registry (tags), or a rule or plain policy data (no tags: a rule's
        reads count where it is defined; policy data is equal in both versions and for every
        record), with the parts of the ref left to apply."""
        root = self._def.module.aliases.get(name, ("data",))
        if root[0] == "input":
            return {"input"}, parts
        path, rest = list(root[1:]), list(parts)
        packages = self._program.packages
        while True:
            if tuple(path[: len(REGISTRY)]) == REGISTRY:
                return {"reg"}, rest
            above = tuple(path) == REGISTRY[: len(path)] or any(p[: len(path)] == tuple(path) for p in packages)
            if not above:
                return set(), rest
            text = self._text(rest[0]) if rest else None
            if text is None:
                raise Unsupported("data above the registry or the rules, read whole or by a computed key")
            path.append(text)
            rest.pop(0)

    @staticmethod
    def _text(part: tuple[str, Node]) -> str | None:
        return part[1] if part[0] == "dot" else constant_string(part[1])

    def _call(self, call: Node, scope: _Scope) -> set[Tag]:
        fcn = call["fcn"]
        params = call["params"]
        keys = resolve(self._program, self._def.module, fcn, frozenset())
        if keys:
            for key in keys:
                for i, arg in enumerate(params):
                    self.params.setdefault((key, i), set()).update(self._tags(arg, scope))
            return set()
        root, parts = flatten(fcn)
        name = ".".join([var_name(root) or "?", *(p for k, p in parts if k == "dot")])
        if name == "object.get" and len(params) == 3:
            self.whole(self._tags(params[2], scope))
            cur = self._tags(params[0], scope)
            key = params[1]
            if constant_string(key) is None and not (isinstance(key, dict) and "Array" in key):
                self.whole(cur | self._tags(key, scope))  # a computed key may be a whole path
                return self._tags(params[2], scope)
            steps = key["Array"]["items"] if "Array" in key else [key]
            for step in steps:
                text = constant_string(step)
                if text is not None:
                    cur = self.field(cur, text)
                else:
                    self.whole(self._tags(step, scope))
                    cur = self._keyed(cur, step, scope, lookup=True)
            return cur | self._tags(params[2], scope)
        for arg in params:
            tags = self._tags(arg, scope)
            self.typecheck(tags) if name in TYPE_CHECKS else self.whole(tags)
        return set()

    def _keyed(self, tags: set[Tag], index: Node, scope: _Scope, *, lookup: bool = False) -> set[Tag]:
        name = var_name(index)
        root, parts = flatten(index)
        return self.keyed(
            tags,
            bound=lookup or name is None or (name != "_" and self._is_bound(name, scope)),
            by_id=(bool(parts) and parts[-1] == ("dot", "id")) or (var_name(root) == "input" and len(parts) == 1),
        )
