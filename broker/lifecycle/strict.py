"""A small static pass over Rego text for the strict-mode checks the embedded engines lack.

OPA 1.0 enforces its former ``--strict`` checks by default; regorus and rego-cpp do not, so this
module re-implements the ones that can be decided reliably from the text alone:

* ``duplicate-import``       the same path or alias imported twice
* ``unused-import``          an import whose alias is never referenced (``rego.v1`` and
  ``future.keywords`` excepted)
* ``import-shadowed``        a rule or function of the module has the same name as an import alias
* ``reserved-name``          ``input`` or ``data`` used as an import alias, rule, argument or
  local variable name
* ``deprecated-builtin``     calls to built-ins deprecated in OPA v1: ``any``, ``all``,
  ``re_match``, ``net.cidr_overlap``, ``set_diff``, ``cast_array``, ``cast_set``, ``cast_string``,
  ``cast_boolean``, ``cast_null``, ``cast_object``
* ``unused-local-assignment`` ``x := ...`` inside a rule whose ``x`` appears nowhere else in that rule
* ``unused-function-arg``    a function argument (a plain variable) not used in its definition

Not implemented (needs a real Rego type checker): unused ``some`` declarations, unsafe variables
(the engine's compile step reports those), and scoping finer than one rule (a variable used only
in a sibling comprehension of the same rule counts as used). Each finding carries file, line and
column so it reads like a compiler diagnostic.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass
from typing import Any

DEPRECATED_BUILTINS = (
    "any",
    "all",
    "re_match",
    "net.cidr_overlap",
    "set_diff",
    "cast_array",
    "cast_set",
    "cast_string",
    "cast_boolean",
    "cast_null",
    "cast_object",
)
_RESERVED = ("input", "data")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_KEYWORDS = frozenset(
    {"as", "contains", "default", "else", "every", "false", "if", "import", "in", "not", "null", "package"}
    | {"some", "true", "with"}
)


@dataclass(frozen=True)
class Finding:
    check: str
    file: str
    line: int
    column: int
    message: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def blank_strings_and_comments(source: str) -> str:
    """``source`` with comments and string contents replaced by spaces (offsets preserved)."""
    out = list(source)
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c == "#":
            while i < n and source[i] != "\n":
                out[i] = " "
                i += 1
        elif c == '"':
            i += 1
            while i < n and source[i] != '"' and source[i] != "\n":
                if source[i] == "\\":
                    out[i] = " "
                    i += 1
                out[i] = " "
                i += 1
            i += 1
        elif c == "`":
            i += 1
            while i < n and source[i] != "`":
                if source[i] != "\n":
                    out[i] = " "
                i += 1
            i += 1
        else:
            i += 1
    return "".join(out)


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


@dataclass(frozen=True)
class _Statement:
    start: int
    text: str


def _statements(code: str) -> list[_Statement]:
    """Top-level statements: each starts at column 1, at bracket depth 0, with an identifier."""
    starts: list[int] = []
    depth = 0
    at_line_start = True
    for i, c in enumerate(code):
        if at_line_start and depth == 0 and (c.isalpha() or c == "_"):
            starts.append(i)
        at_line_start = c == "\n"
        if c in "{[(":
            depth += 1
        elif c in "}])":
            depth = max(0, depth - 1)
    starts.append(len(code))
    return [_Statement(a, code[a:b]) for a, b in itertools.pairwise(starts)]


def check_module(file: str, source: str) -> list[Finding]:
    code = blank_strings_and_comments(source)
    findings: list[Finding] = []

    def add(check: str, offset: int, message: str) -> None:
        line, col = _line_col(code, offset)
        findings.append(Finding(check, file, line, col, message))

    statements = _statements(code)
    imports: dict[str, tuple[str, int]] = {}  # alias -> (path, offset)
    paths: set[str] = set()
    rule_names: dict[str, int] = {}
    bodies: list[_Statement] = []
    for st in statements:
        head = re.match(r"import\s+([\w.\[\]]+)(?:\s+as\s+(" + _IDENT + "))?", st.text)
        if head:
            path, alias = head.group(1), head.group(2)
            name = alias or path.rsplit(".", 1)[-1]
            if path in paths or (name in imports and not _exempt_import(path)):
                add("duplicate-import", st.start, f"import {path} duplicates an earlier import")
            paths.add(path)
            if name in _RESERVED and path not in _RESERVED:
                add("reserved-name", st.start, f"import alias {name!r} shadows the reserved name {name!r}")
            imports.setdefault(name, (path, st.start))
            continue
        if st.text.startswith("package"):
            continue
        rule = re.match(r"(?:default\s+)?(" + _IDENT + ")", st.text)
        if rule:
            rule_names.setdefault(rule.group(1), st.start)
            bodies.append(st)
    rest = "".join(s.text for s in statements if not s.text.startswith(("import", "package")))
    for name, (path, offset) in imports.items():
        if _exempt_import(path) or name in _RESERVED:
            continue
        if not re.search(r"(?<![\w.])" + re.escape(name) + r"\b", rest):
            add("unused-import", offset, f"import {path} is never used")
        if name in rule_names:
            add("import-shadowed", rule_names[name], f"rule {name!r} shadows the import {path}")
    for name, offset in rule_names.items():
        if name in _RESERVED:
            add("reserved-name", offset, f"a rule may not be named {name!r}")
    for st in bodies:
        findings.extend(_check_rule(file, code, st))
    findings.extend(_deprecated(file, code))
    return sorted(findings, key=lambda f: (f.line, f.column, f.check))


def _exempt_import(path: str) -> bool:
    return path == "rego.v1" or path.startswith("future.keywords")


def _count(name: str, text: str) -> int:
    # A reference to a variable: not preceded by '.' (field access) nor part of a longer name.
    return len(re.findall(r"(?<![\w.])" + re.escape(name) + r"\b(?!\s*:(?!=))", text))


def _check_rule(file: str, code: str, st: _Statement) -> list[Finding]:
    found: list[Finding] = []
    text = st.text
    if text.startswith("default"):
        return found
    for m in re.finditer(r"(?<![\w.])(" + _IDENT + r")\s*:=", text):
        name = m.group(1)
        # The rule's own head (`r := ...` at offset 0) is a rule, not a local.
        if m.start() == 0 or name == "_" or name in _KEYWORDS:
            continue
        line, col = _line_col(code, st.start + m.start())
        if name in _RESERVED:
            found.append(Finding("reserved-name", file, line, col, f"local variable may not be named {name!r}"))
        elif _count(name, text) <= 1:
            message = f"local variable {name!r} is assigned but never used"
            found.append(Finding("unused-local-assignment", file, line, col, message))
    head = re.match(r"(" + _IDENT + r")\(([^()]*)\)", text)
    if head:
        for am in re.finditer(_IDENT, head.group(2)):
            arg = am.group(0)
            if arg in _KEYWORDS or arg == "_" or head.group(2)[max(0, am.start() - 1)] in ".\"":
                continue
            line, col = _line_col(code, st.start + head.start(2) + am.start())
            if arg in _RESERVED:
                found.append(Finding("reserved-name", file, line, col, f"function argument may not be named {arg!r}"))
            elif _count(arg, text) <= 1:
                found.append(Finding("unused-function-arg", file, line, col, f"argument {arg!r} is never used"))
    return found


def _deprecated(file: str, code: str) -> list[Finding]:
    found: list[Finding] = []
    names = "|".join(re.escape(b) for b in DEPRECATED_BUILTINS)
    for m in re.finditer(r"(?<![\w.])(" + names + r")\s*\(", code):
        line, col = _line_col(code, m.start())
        found.append(
            Finding("deprecated-builtin", file, line, col, f"built-in {m.group(1)} is deprecated in OPA v1")
        )
    return found


def check_modules(modules: dict[str, str]) -> list[Finding]:
    out: list[Finding] = []
    for file in sorted(modules):
        out.extend(check_module(file, modules[file]))
    return out
