"""Load registry content from YAML files and dump it back, deterministically.

File format: each file is a mapping whose top-level keys are entity collections
(``jurisdictions``, ``regions``, ``scopes``, ``providers``, ``models``, ``tenants``), each a list of
entities, or overlays that extend models defined elsewhere (used by the demo set)::

    model_deployments:        # each item: a Deployment plus the model it belongs to
      - {model: anthropic.claude-opus-4-7, target: aws-bedrock:eu, source: {...}, demo: true}
    model_trusted_partners:   # each item: a TrustedPartner plus the model it belongs to
      - {model: demo.frontier-x, tenant: demo-partner, since: 2026-08-01, demo: true}

Loading is all-or-nothing: every problem in every file is collected, and any problem raises
:class:`~registry.errors.RegistryError`, naming the file, the path inside it and the line. To keep
those lines we compose YAML nodes ourselves instead of calling ``yaml.safe_load``.

Untrusted input is expected (officers upload files through the API), hence: SafeLoader only, no
anchors/aliases (the classic "billion laughs" bomb needs them), no merge keys, no duplicate keys, and
a size cap per file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from registry.canonical import entity_key
from registry.errors import Loc, Problem, RegistryError, format_loc
from registry.model import KIND_COLLECTIONS, KINDS, Deployment, Model, Registry, TrustedPartner
from registry.validate import validate

MAX_FILE_BYTES = 8 * 1024 * 1024
"""Largest accepted YAML file; the whole shipped catalog is well under 1 MiB."""

MAX_NODES = 250_000
"""Most YAML nodes in one file. The byte cap alone does not bound memory: PyYAML keeps about a
kilobyte per composed node, so 8 MiB of tiny flow mappings grew the loader past 1 GiB. The shipped
catalog and demo set together are about 10,000 nodes."""

CATALOG_DIR = Path(__file__).resolve().parent / "catalog"
DEMO_DIR = CATALOG_DIR / "demo"

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_COLLECTION_KIND = {coll: kind for kind, coll in KIND_COLLECTIONS.items()}
_OVERLAYS: dict[str, tuple[str, type[BaseModel]]] = {
    "model_deployments": ("deployments", Deployment),
    "model_trusted_partners": ("trusted_partners", TrustedPartner),
}


def _without_timestamps(
    resolvers: dict[Any, list[tuple[str, Any]]],
) -> dict[Any, list[tuple[str, Any]]]:
    # Dates stay strings: pydantic parses them per field, and a str field that looks like a date
    # (a version "2026-06-12") must not silently become a datetime.date.
    return {k: [(tag, rx) for tag, rx in v if tag != _TIMESTAMP] for k, v in resolvers.items()}


class _Loader(yaml.SafeLoader):
    yaml_implicit_resolvers = _without_timestamps(yaml.SafeLoader.yaml_implicit_resolvers)

    nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.MarkedYAMLError(
                problem="YAML anchors and aliases are not allowed", problem_mark=event.start_mark
            )
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise yaml.MarkedYAMLError(
                problem=f"more than {MAX_NODES} YAML nodes in one file", problem_mark=event.start_mark
            )
        return super().compose_node(parent, index)


class _Dumper(yaml.SafeDumper):
    yaml_implicit_resolvers = _without_timestamps(yaml.SafeDumper.yaml_implicit_resolvers)

    def ignore_aliases(self, data: Any) -> bool:
        return True  # never emit anchors: our own loader refuses them


class _FileError(Exception):
    def __init__(self, message: str, line: int | None, loc: Loc = ()) -> None:
        super().__init__(message)
        self.message, self.line, self.loc = message, line, loc


@dataclass
class _Origin:
    """Where (part of) an entity came from: entity path ``rel`` lives at ``file_loc`` in ``file``."""

    kind: str
    key: str
    rel: Loc
    file: str
    file_loc: Loc
    marks: dict[Loc, int]


def _parse(name: str, data: bytes | str) -> tuple[Any, dict[Loc, int]]:
    """Parse one YAML document into plain Python values and a ``path -> line`` map."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_FILE_BYTES:
        raise _FileError(f"file is {len(raw)} bytes; the limit is {MAX_FILE_BYTES}", None)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _FileError(f"not UTF-8: {exc}", None) from exc
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        marks: dict[Loc, int] = {}
        value = _to_python(loader, node, (), marks) if node is not None else None
        return value, marks
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = ": ".join(x for x in (exc.context, exc.problem) if x) or "invalid YAML"
        raise _FileError(what, mark.line + 1 if mark else None) from exc
    except RecursionError as exc:
        raise _FileError("YAML nested too deeply", None) from exc
    finally:
        loader.dispose()


def _to_python(loader: _Loader, node: yaml.Node, loc: Loc, marks: dict[Loc, int]) -> Any:
    marks[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _FileError("YAML merge keys ('<<') are not allowed", line, loc)
            key = loader.construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                raise _FileError("mapping keys must be strings", line, loc)
            if key in out:
                raise _FileError(f"duplicate key {key!r}", line, (*loc, key))
            out[key] = _to_python(loader, value_node, (*loc, key), marks)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(loader, item, (*loc, i), marks) for i, item in enumerate(node.value)]
    return loader.construct_object(node)


def _line(marks: dict[Loc, int], loc: Loc) -> int | None:
    """Line of the deepest existing node on ``loc`` (pydantic locs can name absent fields)."""
    for n in range(len(loc), -1, -1):
        if loc[:n] in marks:
            return marks[loc[:n]]
    return None


def _clean(msg: str) -> str:
    """Drop pydantic's 'Value error, ' prefix: our validators' messages already say what is wrong."""
    return msg.removeprefix("Value error, ")


def _item_label(item: Any) -> str:
    if isinstance(item, dict):
        for field in ("id", "code", "model"):
            if isinstance(item.get(field), str):
                return str(item[field])
    return ""


class _Builder:
    """Accumulates entities from several files, then checks the whole."""

    def __init__(self) -> None:
        self.entities: dict[str, dict[str, BaseModel]] = {kind: {} for kind in KINDS}
        self.origins: list[_Origin] = []
        self.problems: list[Problem] = []
        self.overlays: list[tuple[str, Loc, dict[Loc, int], str, BaseModel]] = []

    def add_file(self, name: str, data: bytes | str) -> None:
        try:
            top, marks = _parse(name, data)
        except _FileError as exc:
            self.problems.append(Problem("", "", (), exc.message, name, exc.loc, exc.line))
            return
        if top is None:
            return  # an empty file contributes nothing
        if not isinstance(top, dict):
            self._file_problem(name, (), marks, "top level must be a mapping of collections")
            return
        for coll, items in top.items():
            if coll not in _COLLECTION_KIND and coll not in _OVERLAYS:
                known = sorted([*_COLLECTION_KIND, *_OVERLAYS])
                self._file_problem(name, (coll,), marks, f"unknown collection {coll!r}; known: {known}")
            elif not isinstance(items, list):
                self._file_problem(name, (coll,), marks, "must be a list")
            else:
                for i, item in enumerate(items):
                    self._add_item(name, coll, (coll, i), item, marks)

    def _file_problem(self, name: str, loc: Loc, marks: dict[Loc, int], msg: str) -> None:
        self.problems.append(Problem("", "", (), msg, name, loc, _line(marks, loc)))

    def _add_item(self, name: str, coll: str, loc: Loc, item: Any, marks: dict[Loc, int]) -> None:
        overlay = _OVERLAYS.get(coll)
        kind = "model" if overlay else _COLLECTION_KIND[coll]
        cls = overlay[1] if overlay else KINDS[kind]
        body = item
        if overlay:
            if not isinstance(item, dict) or not isinstance(item.get("model"), str):
                self._file_problem(name, (*loc, "model"), marks, "needs 'model': the id of the model to extend")
                return
            body = {k: v for k, v in item.items() if k != "model"}
        try:
            obj = cls.model_validate(body)
        except ValidationError as exc:
            for err in exc.errors():
                rel = tuple(err["loc"])
                file_loc = (*loc, *rel)
                self.problems.append(
                    Problem(kind, _item_label(item), rel, _clean(err["msg"]), name, file_loc, _line(marks, file_loc))
                )
            return
        if overlay:
            self.overlays.append((name, loc, marks, str(item["model"]), obj))
            return
        key = entity_key(obj)
        if key in self.entities[kind]:
            first = next(o for o in self.origins if o.kind == kind and o.key == key and not o.rel)
            where = f"{first.file}:{_line(first.marks, first.file_loc)}"
            self.problems.append(
                Problem(kind, key, (), f"duplicate {kind} id {key!r} (first defined at {where})",
                        name, loc, _line(marks, loc))
            )
            return
        self.entities[kind][key] = obj
        self.origins.append(_Origin(kind, key, (), name, loc, marks))

    def apply_overlays(self) -> None:
        models: dict[str, BaseModel] = self.entities["model"]
        for name, loc, marks, model_id, obj in self.overlays:
            model = models.get(model_id)
            if not isinstance(model, Model):
                self._file_problem(name, (*loc, "model"), marks, f"unknown model {model_id!r}")
                continue
            field = _OVERLAYS[loc[0]][0] if isinstance(loc[0], str) else ""
            current: tuple[BaseModel, ...] = getattr(model, field)
            models[model_id] = model.model_copy(update={field: (*current, obj)})
            self.origins.append(_Origin("model", model_id, (field, len(current)), name, loc, marks))

    def locate(self, p: Problem) -> Problem:
        """Attach file, file path and line to a problem found by :func:`validate`."""
        best: _Origin | None = None
        for o in self.origins:
            matches = o.kind == p.kind and o.key == p.id and p.loc[: len(o.rel)] == o.rel
            if matches and (best is None or len(o.rel) > len(best.rel)):
                best = o
        if best is None:
            return p
        file_loc = best.file_loc + p.loc[len(best.rel):]
        return Problem(p.kind, p.id, p.loc, p.message, best.file, file_loc, _line(best.marks, file_loc))

    def build(self) -> Registry:
        self.apply_overlays()
        if self.problems:
            raise RegistryError(self.problems)
        reg = Registry(**{KIND_COLLECTIONS[k]: v for k, v in self.entities.items()})
        problems = [self.locate(p) for p in validate(reg)]
        if problems:
            raise RegistryError(problems)
        return reg


def load_texts(docs: Iterable[tuple[str, bytes | str]]) -> Registry:
    """Load ``(file name, content)`` pairs as one registry (e.g. files uploaded through the API)."""
    builder = _Builder()
    for name, data in docs:
        builder.add_file(name, data)
    return builder.build()


def load_files(paths: Sequence[Path]) -> Registry:
    """Load the given YAML files as one registry. Raises RegistryError naming file/path/line."""
    builder = _Builder()
    for path in paths:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:  # refuse before reading a huge file into memory
            msg = f"file is {size} bytes; the limit is {MAX_FILE_BYTES}"
            builder.problems.append(Problem("", "", (), msg, str(path)))
            continue
        builder.add_file(str(path), path.read_bytes())
    return builder.build()


def yaml_files(directory: Path) -> list[Path]:
    """The ``*.yaml`` files directly in ``directory`` (not its sub-directories), sorted."""
    return sorted(p for p in directory.glob("*.yaml") if p.is_file())


def load_dir(*directories: Path) -> Registry:
    """Load every ``*.yaml`` file directly in the given directories as one registry."""
    return load_files([p for d in directories for p in yaml_files(Path(d))])


def load_shipped(include_demo: bool = False) -> Registry:
    """The shipped, sourced catalog; with ``include_demo`` also the clearly-labelled demo set."""
    return load_dir(CATALOG_DIR, DEMO_DIR) if include_demo else load_dir(CATALOG_DIR)


def dump_text(reg: Registry, collection: str, header: str | None = None) -> str:
    """One collection as deterministic YAML: ids sorted, fields in model order, defaults left out."""
    items: dict[str, BaseModel] = getattr(reg, collection)
    body = {collection: [items[k].model_dump(mode="json", exclude_defaults=True) for k in sorted(items)]}
    text = yaml.dump(body, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    if header:
        text = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) + text
    return text


def dump_registry(reg: Registry, out_dir: Path, header: str | None = None) -> list[Path]:
    """Write one ``<collection>.yaml`` per kind (all six, empty ones as ``[]``); returns the paths.

    Loading the written directory and dumping it again reproduces the files byte for byte.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for collection in KIND_COLLECTIONS.values():
        path = out_dir / f"{collection}.yaml"
        path.write_text(dump_text(reg, collection, header), encoding="utf-8")
        written.append(path)
    return written


__all__ = [
    "CATALOG_DIR",
    "DEMO_DIR",
    "MAX_FILE_BYTES",
    "dump_registry",
    "dump_text",
    "format_loc",
    "load_dir",
    "load_files",
    "load_shipped",
    "load_texts",
    "yaml_files",
]
