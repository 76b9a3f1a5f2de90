"""Integer, boolean and point primitives: the small arithmetic programs use for offsets,
sizes and conditions."""

from __future__ import annotations

from codeit.dsl.core import DSLError, integer, primitive
from codeit.dsl.types import BOOL, INT, POINT, TVar

T = TVar("T")

Point = tuple[int, int]


@primitive(INT, INT, returns=INT)
def add(a: int, b: int) -> int:
    """a + b"""
    return integer(a + b)


@primitive(INT, INT, returns=INT)
def subtract(a: int, b: int) -> int:
    """a - b"""
    return integer(a - b)


@primitive(INT, INT, returns=INT)
def multiply(a: int, b: int) -> int:
    """a * b"""
    return integer(a * b)


@primitive(INT, INT, returns=INT)
def divide(a: int, b: int) -> int:
    """a // b (floor division)"""
    if b == 0:
        raise DSLError("division by zero")
    return integer(a // b)


@primitive(INT, INT, returns=INT)
def mod(a: int, b: int) -> int:
    """a % b"""
    if b == 0:
        raise DSLError("modulo by zero")
    return integer(a % b)


@primitive(INT, returns=INT)
def increment(a: int) -> int:
    """a + 1"""
    return integer(a + 1)


@primitive(INT, returns=INT)
def decrement(a: int) -> int:
    """a - 1"""
    return integer(a - 1)


@primitive(INT, returns=INT)
def double(a: int) -> int:
    """2 * a"""
    return integer(2 * a)


@primitive(INT, returns=INT)
def halve(a: int) -> int:
    """a // 2"""
    return integer(a // 2)


@primitive(INT, returns=INT)
def negate(a: int) -> int:
    """-a"""
    return integer(-a)


@primitive(INT, INT, returns=BOOL)
def greater(a: int, b: int) -> bool:
    """a > b"""
    return a > b


@primitive(INT, returns=BOOL)
def even(a: int) -> bool:
    """whether a is even"""
    return a % 2 == 0


@primitive(T, T, returns=BOOL)
def equality(a: object, b: object) -> bool:
    """a == b"""
    return a == b


@primitive(BOOL, returns=BOOL)
def flip(a: bool) -> bool:
    """not a"""
    return not a


@primitive(BOOL, BOOL, returns=BOOL)
def both(a: bool, b: bool) -> bool:
    """a and b"""
    return a and b


@primitive(BOOL, BOOL, returns=BOOL)
def either(a: bool, b: bool) -> bool:
    """a or b"""
    return a or b


@primitive(BOOL, T, T, returns=T)
def branch(condition: bool, if_true: object, if_false: object) -> object:
    """if_true when condition holds, else if_false"""
    return if_true if condition else if_false


@primitive(INT, INT, returns=POINT)
def astuple(i: int, j: int) -> Point:
    """the point (i, j)"""
    return (integer(i), integer(j))


@primitive(INT, returns=POINT)
def toivec(i: int) -> Point:
    """the vertical vector (i, 0)"""
    return (integer(i), 0)


@primitive(INT, returns=POINT)
def tojvec(j: int) -> Point:
    """the horizontal vector (0, j)"""
    return (0, integer(j))


@primitive(POINT, returns=INT)
def rowof(p: Point) -> int:
    """the row (first coordinate) of a point"""
    return p[0]


@primitive(POINT, returns=INT)
def colof(p: Point) -> int:
    """the column (second coordinate) of a point"""
    return p[1]


@primitive(POINT, POINT, returns=POINT)
def addpoint(a: Point, b: Point) -> Point:
    """a + b coordinate-wise"""
    return (integer(a[0] + b[0]), integer(a[1] + b[1]))


@primitive(POINT, POINT, returns=POINT)
def subpoint(a: Point, b: Point) -> Point:
    """a - b coordinate-wise"""
    return (integer(a[0] - b[0]), integer(a[1] - b[1]))


@primitive(POINT, INT, returns=POINT)
def scalepoint(a: Point, k: int) -> Point:
    """k * a coordinate-wise"""
    return (integer(a[0] * k), integer(a[1] * k))


@primitive(POINT, returns=POINT)
def invertpoint(a: Point) -> Point:
    """-a coordinate-wise"""
    return (-a[0], -a[1])


@primitive(POINT, returns=POINT)
def signpoint(a: Point) -> Point:
    """the sign (-1, 0 or 1) of each coordinate: a direction"""
    return ((a[0] > 0) - (a[0] < 0), (a[1] > 0) - (a[1] < 0))


@primitive(POINT, returns=POINT)
def swappoint(a: Point) -> Point:
    """(j, i) for (i, j)"""
    return (a[1], a[0])
