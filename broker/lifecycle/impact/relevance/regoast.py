"""Rego modules as data, for the change-relevance analysis (relevance/).

The embedded engine parses (``regorus.Engine().add_policy`` then ``get_ast_as_json``); this
module strips layout from its AST (spans and indices, so whitespace and comments never count as a
change), names every rule by (package, name) and resolves what a node refers to: a rule of the same
package by its name, ``data.<package>.<rule>`` or an imported alias. A reference this module
cannot pin to one rule -- a non-constant key directly under ``data`` or under a package, ``with``
-- raises :class:`Unsupported`, and the caller gives up on projection.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from broker.lifecycle.files import TEST_SUFFIX, canonical_json

Node = Any  # one node of regorus's JSON AST (after normalisation: dicts, lists, scalars)
RuleKey = tuple[str, str]  # (package path "a.b", rule name)
_SPAN = frozenset({"line", "col", "start", "end"})
_LAYOUT = frozenset({"span", "eidx", "sidx", "qidx"})
COMPREHENSIONS = ("SetCompr", "ArrayCompr", "ObjectCompr")


class Unsupported(Exception):
    """Something the analysis does not understand: the caller evaluates without projection."""


@dataclass
class Module:
    path: str
    package: tuple[str, ...]
    imports: list[Node]  # normalised, for the rule fingerprints
    aliases: dict[str, tuple[str, ...]]  # alias -> (root "data" | "input", path ...)


@dataclass
class Definition:
    """One rule definition (a Spec with its else chain, or a default) in its module."""

    key: RuleKey
    node: Node  # {"Spec": ...} or {"Default": ...}, normalised
    module: Module


@dataclass
class Program:
    rules: dict[RuleKey, list[Definition]] = field(default_factory=dict)
    packages: set[tuple[str, ...]] = field(default_factory=set)

    def fingerprint(self, key: RuleKey) -> list[bytes]:
        """The rule's definitions, order-free and layout-free (imports included: they bind names)."""
        return sorted(canonical_json({"rule": d.node, "imports": d.module.imports}) for d in self.rules.get(key, []))


def _normalise(node: Any, src: bytes) -> Any:
    if isinstance(node, dict):
        if node.keys() == _SPAN:  # a bare span stands for source text: a variable or alias name
            return src[node["start"] : node["end"]].decode("utf-8")
        return {k: _normalise(v, src) for k, v in node.items() if k not in _LAYOUT}
    if isinstance(node, list):
        if node and isinstance(node[0], dict) and node[0].keys() == _SPAN and len(node) in (2, 3):
            # A RefDot field [span, name] or an object field [span, key, value]: the span is layout.
            rest = [_normalise(x, src) for x in node[1:]]
            return rest[0] if len(rest) == 1 else rest
        return [_normalise(x, src) for x in node]
    return node


def flatten(node: Node) -> tuple[Node, list[tuple[str, Node]]]:
    """A ref chain as (root node, [("dot", name) | ("brack", index node), ...])."""
    parts: list[tuple[str, Node]] = []
    while isinstance(node, dict):
        if "RefDot" in node:
            parts.append(("dot", node["RefDot"]["field"]))
            node = node["RefDot"]["refr"]
        elif "RefBrack" in node:
            parts.append(("brack", node["RefBrack"]["index"]))
            node = node["RefBrack"]["refr"]
        else:
            break
    parts.reverse()
    return node, parts


def var_name(node: Node) -> str | None:
    return node["Var"]["value"] if isinstance(node, dict) and "Var" in node else None


def constant_string(node: Node) -> str | None:
    if isinstance(node, dict):
        for kind in ("String", "RawString"):
            if kind in node and isinstance(node[kind].get("value"), str):
                return str(node[kind]["value"])
    return None


def _path(node: Node) -> tuple[str, ...]:
    root, parts = flatten(node)
    name = var_name(root)
    out = [name] if name else []
    for kind, part in parts:
        text = part if kind == "dot" else constant_string(part)
        if not isinstance(text, str):
            raise Unsupported("a package or import path with a computed part")
        out.append(text)
    if not name:
        raise Unsupported("a package or import path that is not a name")
    return tuple(out)


def parse(modules: Mapping[str, str]) -> Program:
    """Every serving module (``*_test.rego`` left out) parsed into rule definitions."""
    import regorus

    engine = regorus.Engine()
    texts = {p: t for p, t in modules.items() if p.endswith(".rego") and not p.endswith(TEST_SUFFIX)}
    try:
        for path in sorted(texts):
            engine.add_policy(path, texts[path])
        parsed = json.loads(engine.get_ast_as_json())
    except Exception as exc:  # a parse error: the engines will report it; we just do not project
        raise Unsupported(f"parse: {exc}") from None
    program = Program()
    for entry in parsed:
        src = texts[entry["source"]["file"]].encode("utf-8")
        ast = _normalise(entry["ast"], src)
        package = _path(ast["package"]["refr"])
        imports, aliases = [], {}
        for imp in ast.get("imports", []):
            imports.append(imp)
            target = _path(imp["refr"])
            if target[0] in ("data", "input"):
                aliases[imp.get("as") or target[-1]] = target
        module = Module(entry["source"]["file"], package, imports, aliases)
        program.packages.add(package)
        for rule in ast["rules"]:
            kind, body = next(iter(rule.items()))
            head = body["head"] if kind == "Spec" else body
            refr = next(iter(head.values()))["refr"] if kind == "Spec" else head["refr"]
            root, _ = flatten(refr)
            name = var_name(root)
            if name is None:
                raise Unsupported("a rule head that does not start with a name")
            key = (".".join(package), name)
            program.rules.setdefault(key, []).append(Definition(key, rule, module))
    return program


def resolve(program: Program, module: Module, node: Node, local: frozenset[str] = frozenset()) -> set[RuleKey]:
    """The rules a Var or ref chain names (empty for locals, builtins, input and registry data)."""
    root, parts = flatten(node)
    name = var_name(root)
    if name is None or name in local:
        return set()
    if name in module.aliases:
        target = module.aliases[name]
        if target[0] == "input":
            return set()
        path = list(target[1:])
    elif name == "data":
        path = []
    else:
        key = (".".join(module.package), name)
        return {key} if key in program.rules else set()

    def under_packages() -> bool:  # is `path` a package or a prefix of one?
        return any(p[: len(path)] == tuple(path) for p in program.packages)

    for kind, part in parts:
        text = part if kind == "dot" else constant_string(part)
        if not isinstance(text, str):
            # A computed key below data: fine inside plain data, unknowable where rules live.
            if under_packages():
                raise Unsupported("a dynamic reference to data where rules live (data[...])")
            return set()
        path.append(text)
        if not under_packages():
            pkg = tuple(path[:-1])
            return {(".".join(pkg), path[-1])} if pkg in program.packages else set()
    # The whole of a package (or of several below a prefix): every rule in it.
    prefix = tuple(path)
    return {k for k in program.rules if tuple(k[0].split("."))[: len(prefix)] == prefix}


def pattern_vars(node: Node) -> set[str]:
    """The variables a binding pattern (a Var, or an array / object of them) declares."""
    name = var_name(node)
    if name is not None:
        return {name} if name != "_" else set()
    if isinstance(node, dict) and "Array" in node:
        return {v for item in node["Array"]["items"] for v in pattern_vars(item)}
    if isinstance(node, dict) and "Object" in node:
        return {v for _, value in node["Object"]["fields"] for v in pattern_vars(value)}
    return set()


def declared(query: Node) -> set[str]:
    """Variables a query declares for itself and what it nests: `:=`, `some ... in`, `some x`."""
    out: set[str] = set()
    for stmt in query["stmts"]:
        lit = stmt["literal"]
        if "SomeVars" in lit:
            out.update(lit["SomeVars"]["vars"])
        elif "SomeIn" in lit:
            out |= pattern_vars(lit["SomeIn"]["value"]) | pattern_vars(lit["SomeIn"]["key"])
        elif "Expr" in lit and "AssignExpr" in lit["Expr"]["expr"]:
            assign = lit["Expr"]["expr"]["AssignExpr"]
            if assign["op"] == "ColEq":
                out |= pattern_vars(assign["lhs"])
    return out


def head_parts(definition: Definition) -> tuple[Node, list[Node], list[tuple[Node, list[Node]]]]:
    """(head, params, [(body query, head terms the body produces)]) of a definition.

    Head terms: the value, the key of a partial set or object, and each else branch's value.
    A default rule is a body-less definition whose only head term is its value.
    """
    node = definition.node
    if "Default" in node:
        return node["Default"], node["Default"].get("args") or [], [({"stmts": []}, [node["Default"]["value"]])]
    spec = node["Spec"]
    head = next(iter(spec["head"].values()))
    _, parts = flatten(head["refr"])
    main = [p for k, p in parts if k == "brack"] + [head[k] for k in ("key",) if head.get(k) is not None]
    if head.get("assign"):
        main.append(head["assign"]["value"])
    bodies = []
    for i, body in enumerate(spec["bodies"]):
        terms = list(main) if i == 0 else []
        if body.get("assign"):
            terms.append(body["assign"]["value"])
        bodies.append((body["query"], terms))
    if not bodies:
        bodies.append(({"stmts": []}, main))
    return head, head.get("args") or [], bodies


def chains(node: Node, local: frozenset[str]) -> Iterator[tuple[Node, frozenset[str]]]:
    """Every maximal Var or ref chain below ``node`` with the local variables in scope there."""
    if isinstance(node, list):
        for item in node:
            yield from chains(item, local)
        return
    if not isinstance(node, dict):
        return
    if node.get("with_mods"):
        raise Unsupported("`with` replaces data or input for part of a rule")
    if "stmts" in node:  # a query: its declarations are in scope in all of it
        yield from chains(node["stmts"], local | declared(node))
    elif "Every" in node:
        every = node["Every"]
        yield from chains(every["domain"], local)
        yield from chains(every["query"], local | {every["value"], *((every["key"] and [every["key"]]) or [])})
    elif any(k in node for k in COMPREHENSIONS):
        compr = next(node[k] for k in COMPREHENSIONS if k in node)
        inner = local | declared(compr["query"])
        yield from chains([compr.get("term"), compr.get("key"), compr.get("value")], inner)
        yield from chains(compr["query"], local)
    elif "Var" in node or "RefDot" in node or "RefBrack" in node:
        yield node, local
        root, parts = flatten(node)
        if var_name(root) is None:
            yield from chains(root, local)
        yield from chains([p for k, p in parts if k == "brack"], local)
    else:
        yield from chains(list(node.values()), local)


def references(program: Program, definition: Definition, node: Node | None = None,
               local: frozenset[str] = frozenset()) -> set[RuleKey]:
    """Every rule ``node`` refers to (by default: the whole definition, scopes resolved)."""
    out: set[RuleKey] = set()
    if node is not None:
        for chain, names in chains(node, local):
            out |= resolve(program, definition.module, chain, names)
        return out
    _, params, bodies = head_parts(definition)
    args = frozenset(v for p in params for v in pattern_vars(p))
    out |= references(program, definition, params, args)
    for query, terms in bodies:
        out |= references(program, definition, query, args)
        out |= references(program, definition, terms, args | declared(query))
    return out

