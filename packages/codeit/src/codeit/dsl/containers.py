"""Generic collection primitives and the higher-order combinators that build function values.

Collections are tuples (ordered, may repeat) or frozensets. Two rules keep results
deterministic and unambiguous: unordered collections are walked in a canonical sorted order
(never hash order), and collections of points or cells are always frozensets, so that a tuple
value is never mistaken for a grid by the primitives that accept both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from codeit.dsl.core import DSLError, check_count, integer, primitive
from codeit.dsl.types import BOOL, INT, INTS, Coll, Fn, TVar
from codeit.grid import MAX_SIDE

T, U, V, W = TVar("T"), TVar("U"), TVar("V"), TVar("W")

Container = tuple | frozenset
SORT_COST = 8  # what sorting a set by canonical_key costs an item, in reads of an item


def canonical_key(value: object) -> Any:
    """A total order over DSL values (frozensets compare by their sorted items)."""
    if isinstance(value, frozenset):
        return (1, tuple(sorted(canonical_key(v) for v in value)))
    if isinstance(value, tuple):
        return (2, tuple(canonical_key(v) for v in value))
    return (0, value)


def in_order(container: Container) -> tuple:
    """The items of a collection in a deterministic order: tuples as they are, sets sorted."""
    if isinstance(container, tuple):
        return container
    if not isinstance(container, frozenset):
        raise DSLError(f"expected a collection, got {type(container).__name__}")
    return tuple(sorted(container, key=canonical_key))


def is_location(item: object) -> bool:
    return isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], int)


def in_canonical_order(size: Callable[[object], int], *args: object) -> int:
    """The cost of a primitive that walks its sets in canonical order: a set's items are
    sorted by keys built item by item in Python, about SORT_COST reads each."""
    return sum(size(a) * (SORT_COST if isinstance(a, frozenset) else 1) for a in args)


def collect(items: Iterable, ordered: bool) -> Container:
    """Freeze items as a tuple when `ordered`, except points and cells, which always form a
    frozenset (a patch) - and so does an empty result."""
    items = tuple(items)
    check_count(len(items))
    if not ordered or not items or is_location(items[0]):
        return frozenset(items)
    return items


@primitive(Coll(T), returns=INT)
def size(container: Container) -> int:
    """the number of items"""
    return len(container)


@primitive(Coll(T), returns=T, cost=in_canonical_order)
def first(container: Container) -> object:
    """the first item (of a set: the smallest in canonical order)"""
    if not container:
        raise DSLError("first of an empty collection")
    return in_order(container)[0]


@primitive(Coll(T), returns=T, cost=in_canonical_order)
def last(container: Container) -> object:
    """the last item (of a set: the largest in canonical order)"""
    if not container:
        raise DSLError("last of an empty collection")
    return in_order(container)[-1]


@primitive(Coll(T), Fn((T,), BOOL), returns=Coll(T), cost=in_canonical_order)
def sfilter(container: Container, condition: Callable) -> Container:
    """the items for which condition holds"""
    return collect((x for x in in_order(container) if condition(x)), isinstance(container, tuple))


@primitive(Coll(Coll(T)), Fn((Coll(T),), BOOL), returns=Coll(T), cost=in_canonical_order)
def mfilter(container: Container, condition: Callable) -> Container:
    """the merged items for which condition holds"""
    return merge(sfilter(container, condition))


@primitive(Fn((T,), U), Coll(T), returns=Coll(U), cost=in_canonical_order)
def apply(function: Callable, container: Container) -> Container:
    """function applied to each item"""
    return collect((function(x) for x in in_order(container)), isinstance(container, tuple))


@primitive(Fn((T,), Coll(U)), Coll(T), returns=Coll(U), cost=in_canonical_order)
def mapply(function: Callable, container: Container) -> Container:
    """function applied to each item, results merged"""
    return merge(apply(function, container))


@primitive(Coll(Coll(T)), returns=Coll(T), cost=in_canonical_order)
def merge(containers: Container) -> Container:
    """the union (sets) or concatenation (tuples) of collections"""
    parts = in_order(containers)
    ordered = isinstance(containers, tuple) and all(isinstance(c, tuple) for c in parts)
    if not ordered:
        items: set = set()
        for c in parts:
            items.update(c)
            check_count(len(items))
        return collect(items, False)
    return collect((x for c in parts for x in c), True)


@primitive(Coll(T), Fn((T,), INT), returns=T, cost=in_canonical_order)
def argmax(container: Container, key: Callable) -> object:
    """the item with the largest key (the first such)"""
    if not container:
        raise DSLError("argmax of an empty collection")
    return max(in_order(container), key=key)


@primitive(Coll(T), Fn((T,), INT), returns=T, cost=in_canonical_order)
def argmin(container: Container, key: Callable) -> object:
    """the item with the smallest key (the first such)"""
    if not container:
        raise DSLError("argmin of an empty collection")
    return min(in_order(container), key=key)


@primitive(Coll(T), Fn((T,), INT), returns=INT, cost=in_canonical_order)
def valmax(container: Container, key: Callable) -> int:
    """the largest key over the items"""
    if not container:
        raise DSLError("valmax of an empty collection")
    return max(key(x) for x in in_order(container))


@primitive(Coll(T), Fn((T,), INT), returns=INT, cost=in_canonical_order)
def valmin(container: Container, key: Callable) -> int:
    """the smallest key over the items"""
    if not container:
        raise DSLError("valmin of an empty collection")
    return min(key(x) for x in in_order(container))


@primitive(Coll(T), Fn((T,), INT), returns=Coll(T), cost=in_canonical_order)
def order(container: Container, key: Callable) -> Container:
    """the items sorted by key (ascending; stable)"""
    return collect(sorted(in_order(container), key=key), True)


@primitive(INTS, returns=INT)
def maximum(container: Container) -> int:
    """the largest integer"""
    if not container:
        raise DSLError("maximum of an empty collection")
    return max(container)


@primitive(INTS, returns=INT)
def minimum(container: Container) -> int:
    """the smallest integer"""
    if not container:
        raise DSLError("minimum of an empty collection")
    return min(container)


@primitive(Coll(T), returns=T, cost=in_canonical_order)
def mostcommon(container: Container) -> object:
    """the most frequent item (tuples count repeats; ties: first seen)"""
    if not container:
        raise DSLError("mostcommon of an empty collection")
    return Counter(in_order(container)).most_common(1)[0][0]


@primitive(Coll(T), returns=T, cost=in_canonical_order)
def leastcommon(container: Container) -> object:
    """the least frequent item (ties: first seen)"""
    if not container:
        raise DSLError("leastcommon of an empty collection")
    counts = Counter(in_order(container))
    return min(counts, key=counts.__getitem__)


@primitive(Coll(T), Coll(T), returns=Coll(T))
def combine(a: Container, b: Container) -> Container:
    """the union (sets) or concatenation (tuples)"""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return collect(a + b, True)
    check_count(len(a) + len(b))
    return collect(frozenset(a) | frozenset(b), False)


@primitive(Coll(T), Coll(T), returns=Coll(T))
def intersection(a: Container, b: Container) -> Container:
    """the items in both"""
    return collect(frozenset(a) & frozenset(b), False)


@primitive(Coll(T), Coll(T), returns=Coll(T), cost=in_canonical_order)
def difference(a: Container, b: Container) -> Container:
    """the items of a that are not in b"""
    drop = frozenset(b)
    return collect((x for x in in_order(a) if x not in drop), isinstance(a, tuple))


@primitive(T, Coll(T), returns=Coll(T))
def insert(item: object, container: Container) -> Container:
    """container with item added"""
    if isinstance(container, tuple):
        return collect((*container, item), True)
    return collect(container | {item}, False)


@primitive(T, Coll(T), returns=Coll(T), cost=in_canonical_order)
def remove(item: object, container: Container) -> Container:
    """container without item"""
    return collect((x for x in in_order(container) if x != item), isinstance(container, tuple))


def _lookup_cost(size: Callable[[object], int], item: object, container: object) -> int:
    """Finding item: a scan of a tuple, one hash of item in a set."""
    return size(item) + (size(container) if isinstance(container, tuple) else 1)


@primitive(T, Coll(T), returns=BOOL, cost=_lookup_cost)
def contained(item: object, container: Container) -> bool:
    """whether item is in container"""
    return item in container


@primitive(T, returns=Coll(T))
def initset(item: object) -> Container:
    """the set holding just item"""
    return frozenset({item})


@primitive(Coll(T), T, returns=T, cost=in_canonical_order)
def other(container: Container, item: object) -> object:
    """the first item that is not item"""
    for x in in_order(container):
        if x != item:
            return x
    raise DSLError("no other item")


@primitive(Coll(T), Fn((T,), BOOL), returns=T, cost=in_canonical_order)
def extract(container: Container, condition: Callable) -> object:
    """the first item for which condition holds"""
    for x in in_order(container):
        if condition(x):
            return x
    raise DSLError("extract found no item")


@primitive(Coll(Coll(T)), INT, returns=Coll(Coll(T)), cost=in_canonical_order)
def sizefilter(container: Container, n: int) -> Container:
    """the items of size n"""
    return collect((x for x in in_order(container) if len(x) == n), isinstance(container, tuple))


@primitive(Coll(T), returns=Coll(T), cost=in_canonical_order)
def totuple(container: Container) -> Container:
    """the items as an ordered tuple (sets in canonical order)"""
    return collect(in_order(container), True)


@primitive(T, INT, returns=Coll(T))
def repeat(item: object, n: int) -> Container:
    """a tuple of n copies of item"""
    if not 0 <= n <= MAX_SIDE:
        raise DSLError(f"repeat count {n} outside 0..{MAX_SIDE}")
    return collect((item,) * n, True)


@primitive(INT, INT, INT, returns=INTS)
def interval(start: int, stop: int, step: int) -> Container:
    """the integers start, start+step, ... before stop"""
    if integer(step) == 0:
        raise DSLError("interval step 0")
    span = range(integer(start), integer(stop), step)
    check_count(len(span))  # before building it
    return collect(span, True)


@primitive(T, returns=T)
def identity(x: object) -> object:
    """x itself"""
    return x


@primitive(Fn((T, U), V), U, returns=Fn((T,), V))
def rbind(function: Callable, fixed: object) -> Callable:
    """function with its second argument fixed"""
    return lambda x: function(x, fixed)


@primitive(Fn((T, U), V), T, returns=Fn((U,), V))
def lbind(function: Callable, fixed: object) -> Callable:
    """function with its first argument fixed"""
    return lambda y: function(fixed, y)


@primitive(Fn((U,), V), Fn((T,), U), returns=Fn((T,), V))
def compose(outer: Callable, inner: Callable) -> Callable:
    """x -> outer(inner(x))"""
    return lambda x: outer(inner(x))


@primitive(Fn((U, V), W), Fn((T,), U), Fn((T,), V), returns=Fn((T,), W))
def fork(outer: Callable, left: Callable, right: Callable) -> Callable:
    """x -> outer(left(x), right(x))"""
    return lambda x: outer(left(x), right(x))


@primitive(Fn((T,), U), U, returns=Fn((T,), BOOL))
def matcher(function: Callable, target: object) -> Callable:
    """x -> function(x) == target"""
    return lambda x: function(x) == target


@primitive(Fn((T,), T), INT, returns=Fn((T,), T))
def power(function: Callable, n: int) -> Callable:
    """function applied n times"""
    if not 0 <= integer(n) <= MAX_SIDE:
        raise DSLError(f"power {n} outside 0..{MAX_SIDE}")

    def repeated(x: object) -> object:
        for _ in range(n):
            x = function(x)
        return x

    return repeated
