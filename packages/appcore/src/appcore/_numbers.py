"""Numeric settings (timeouts, limits, counts): one rule for the command line and for files.

A number a server type keeps (a timeout, a body size limit, a thread count) must be a real
int, or a finite float, within its bound: ``nan`` compares false with everything, so a
``value <= 0`` check lets it through, and an infinite or negative timeout makes a server
wait forever or never. :class:`~appcore.Option` applies the rule to what a person types
(``at_least=``, ``more_than=``; a float option refuses ``nan`` and infinities always), and
:func:`check_number` applies the same rule to an attribute of an object just loaded from a
file (from a persistent class's :meth:`~appcore.Persistent._validate`), where a bad value is
bad data rather than bad usage.
"""

from __future__ import annotations

import math

from appcore._errors import DataError


def _shown(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else repr(bound)


def number_problem(
    value: object,
    *,
    integer: bool = False,
    at_least: float | None = None,
    more_than: float | None = None,
) -> str | None:
    """Why ``value`` is not an acceptable setting (``"must be at least 1, not -1"``), or None.

    With ``integer`` only an int will do (never a bool); otherwise an int or a finite float.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be {'an integer' if integer else 'a number'}, not {value!r}"
    if integer and not isinstance(value, int):
        return f"must be an integer, not {value!r}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, not {value!r}"
    if at_least is not None and value < at_least:
        return f"must be at least {_shown(at_least)}, not {value!r}"
    if more_than is not None and value <= more_than:
        return f"must be more than {_shown(more_than)}, not {value!r}"
    return None


def check_number(
    obj: object,
    name: str,
    *,
    integer: bool = False,
    at_least: float | None = None,
    more_than: float | None = None,
) -> None:
    """Raise :class:`DataError` unless ``obj.name`` is an acceptable setting (see
    :func:`number_problem`); for the ``_validate`` step of a loaded object."""
    problem = number_problem(
        getattr(obj, name, None), integer=integer, at_least=at_least, more_than=more_than
    )
    if problem is not None:
        cls = type(obj)
        raise DataError(f"{cls.__module__}:{cls.__qualname__}: {name} {problem}")
