"""Tags: what a value may be, as far as the registry's records go (for readset.py).

* ``rec`` -- a whole tenant, target or model record (a lookup ``reg.tenants[input.tenant]``, or
  a parameter it was passed to); ``reg`` the registry, ``("coll", c)`` one of its record maps;
  ``global`` its shared parts (providers, jurisdictions), ``input`` the request.
* ``("name", n)`` -- the value at some key ``n``; ``("elem", n)`` an element of one.
* :class:`Lit` -- a literal or comprehension holding values with these tags.
* no tag -- a constant, or a rule's or builtin's result (a rule's own reads are counted where it
  is defined; a builtin's arguments count as read whole).

Reading ``x.n`` marks ``n`` in ``path`` when the ref goes on below it; using the value at ``n``
(comparing it, passing it to a builtin, putting it in the output, iterating the elements of its
elements) marks it ``whole``; iterating it or looking a computed key up in it marks it ``keyed``
(``by_id`` when the key is a record's id). Using a whole record, iterating one or the registry,
or a computed key on a record raises Unsupported: there is no field name to keep.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Union

from broker.lifecycle.impact.relevance.regoast import Unsupported

Tag = Union[str, tuple[str, str], "Lit"]
RECORDS = frozenset({"tenants", "targets", "models"})
REGISTRY = ("tollgate", "registry")
TYPE_CHECKS = frozenset({"is_null", "is_object", "is_string", "is_number", "is_boolean", "is_array", "is_set",
                         "type_name"})


@dataclass(frozen=True)
class Lit:
    items: frozenset[Tag]


@dataclass
class Fields:
    """Field names the change can read. ``by_id``: keyed only by a record id (``x[target.id]``)."""

    path: set[str] = field(default_factory=set)
    keyed: set[str] = field(default_factory=set)
    whole: set[str] = field(default_factory=set)
    by_id: set[str] = field(default_factory=set)

    def names(self) -> set[str]:
        return self.path | self.keyed | self.whole | self.by_id


class TagOps:
    """The operations on tags, recording in :attr:`fields` what each one reads."""

    def __init__(self) -> None:
        self.fields = Fields()

    def field(self, tags: Iterable[Tag], name: str) -> set[Tag]:
        out: set[Tag] = set()
        for t in tags:
            if t == "reg":
                out.add(("coll", name) if name in RECORDS else "global")
            elif isinstance(t, tuple) and t[0] == "coll":
                out.add("rec")  # a record named by a constant: it stays in a class of its own
            elif t == "rec" or (isinstance(t, tuple) and t[0] == "elem"):
                out.add(("name", name))
            elif isinstance(t, tuple) and t[0] == "name":
                self.fields.path.add(t[1])
                out.add(("name", name))
            elif isinstance(t, Lit):
                out |= self.field(t.items, name)
            elif t in ("input", "global"):
                out.add(t)
        return out

    def _carry(self, t: Tag, out: set[Tag]) -> bool:
        """The cases every indexing and iteration shares: an element of a list (its value is
        then read whole), a literal's items, the request or the registry's shared parts."""
        if isinstance(t, tuple) and t[0] == "elem":
            self.fields.whole.add(t[1])
            out.add(t)
        elif isinstance(t, Lit):
            out |= set(t.items)
        elif t in ("input", "global"):
            out.add(t)
        else:
            return False
        return True

    def numbered(self, tags: Iterable[Tag]) -> set[Tag]:
        out: set[Tag] = set()
        for t in tags:
            if isinstance(t, tuple) and t[0] == "name":
                self.fields.path.add(t[1])  # lists keep their elements: the index still lands
                out.add(("elem", t[1]))
            elif not self._carry(t, out):
                raise Unsupported("a numeric index on a record or the registry")
        return out

    def keyed(self, tags: Iterable[Tag], *, bound: bool, by_id: bool) -> set[Tag]:
        """``x[k]`` for a computed ``k``: a lookup (``bound``: k has a value; ``by_id``: it is a
        record's id) or an iteration (k is free)."""
        out: set[Tag] = set()
        for t in tags:
            if isinstance(t, tuple) and t[0] == "coll":
                if not bound:
                    raise Unsupported("iteration over every record of the registry")
                out.add("rec")
            elif isinstance(t, tuple) and t[0] == "name":
                (self.fields.by_id if bound and by_id else self.fields.keyed).add(t[1])
                out.add(("elem", t[1]))
            elif not self._carry(t, out):
                raise Unsupported("a computed key on a record or the registry")
        return out

    def iterate(self, tags: Iterable[Tag]) -> tuple[set[Tag], set[Tag]]:
        """(elements, keys) of what ``some k, v in x`` walks."""
        out: set[Tag] = set()
        for t in tags:
            if isinstance(t, tuple) and t[0] == "name":
                self.fields.keyed.add(t[1])
                out.add(("elem", t[1]))
            elif isinstance(t, tuple) and t[0] == "coll":
                raise Unsupported("iteration over every record of the registry")
            elif not self._carry(t, out):
                raise Unsupported("iteration over a record's fields or the registry")
        return out, {t for t in out if t in ("input", "global")}

    def whole(self, tags: Iterable[Tag]) -> None:
        for t in tags:
            if isinstance(t, tuple) and t[0] in ("name", "elem"):
                self.fields.whole.add(t[1])
            elif isinstance(t, Lit):
                self.whole(t.items)
            elif t not in ("input", "global"):
                raise Unsupported("a whole record or the registry used as a value")

    def typecheck(self, tags: Iterable[Tag]) -> None:
        """``is_null(x)``, ``x == null``: only the kind of value is read (projection keeps it)."""
        for t in tags:
            if isinstance(t, tuple) and t[0] == "name":
                self.fields.path.add(t[1])
