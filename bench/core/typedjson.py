"""Typed JSON: dataclasses read from JSON with every field checked against its annotation, strict
parsing, and atomic writes. Standard library only, so that a worker process stays light (no pandas).

Used for every document fwbench reads or writes: results files (bench.records.results), the job a worker
receives and the document it writes back (bench.core.spec, bench.worker), the plan of a suite.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bench.core.files import atomic_write_text

T = TypeVar("T")


def clean(x: Any) -> Any:
    """JSON has no NaN/inf: store them as strings so that nothing is silently turned into a number."""
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [clean(v) for v in x]
    return x


NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}  # how clean stores them


def json_kind(v: Any) -> str:
    """What a JSON value is, for messages: 'string 'abc'', 'null', 'a list' ..."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"boolean {str(v).lower()}"
    if isinstance(v, int | float):
        return f"number {v!r}"
    if isinstance(v, str):
        return f"string {v[:40]!r}"
    return {dict: "an object", list: "a list"}.get(type(v), type(v).__name__)


def type_name(hint: Any) -> str:
    if hint is type(None):
        return "None"
    if isinstance(hint, type) and typing.get_origin(hint) is None:
        return hint.__name__
    return str(hint).replace("typing.", "")


PLAIN: dict[Any, tuple[type, ...]] = {str: (str,), int: (int,), float: (float, int)}  # exact types (no bool)


def conform(value: Any, hint: Any, where: str) -> Any:
    """A value read from JSON, checked against a field's type annotation (recursively).

    Returns the value as stored, except that a float written as "nan"/"inf"/"-inf" (see clean) is
    a float again. Anything else of the wrong type is a ValueError naming `where`: never coerced.
    An int is accepted where a float is expected (JSON does not tell 1 from 1.0); a bool is not.
    """
    if hint is Any or (type(value) is hint and hint in (str, int, float, bool)):  # the common case, quickly
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for a in options:
            try:
                return conform(value, a, where)
            except ValueError as e:  # X | None: X's own message when the fault lies deeper inside the value
                if len(options) == 1 and not str(e).startswith(f"{where}: expected "):
                    raise
    elif dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        return from_json(hint, value, where)
    elif origin in (list, tuple) and isinstance(value, list | tuple):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ValueError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(conform(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        if item in PLAIN and all(type(v) in PLAIN[item] for v in value):  # e.g. step_ms, quickly
            return list(value) if origin is list else tuple(value)
        items = [conform(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    elif origin in (dict, Mapping) and isinstance(value, Mapping):
        vtype = args[1] if args else Any
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise ValueError(f"{where}: key {bad[0]!r} is not a string")
        if vtype in PLAIN and all(type(v) in PLAIN[vtype] for v in value.values()):  # e.g. metrics, quickly
            return dict(value)
        return {k: conform(v, vtype, f"{where}.{k}") for k, v in value.items()}
    elif hint is float:
        if isinstance(value, str) and value in NON_FINITE:
            return NON_FINITE[value]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif origin is None and hint is not type(None) and isinstance(hint, type) and isinstance(value, hint):
        return value
    raise ValueError(f"{where}: expected {type_name(hint)}, got {json_kind(value)}")


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def typed_fields(cls: type, d: Any, where: str, ignore: Sequence[str] = ()) -> dict[str, Any]:
    """The fields of dataclass `cls` from a JSON object, each checked against its annotation.

    Required fields must be present, unknown keys (other than `ignore`) are refused; fields with a
    default may be absent (files written before the field existed). `where` names the object."""
    if not isinstance(d, Mapping):
        raise ValueError(f"{where or 'the document'}: expected an object, got {json_kind(d)}")
    fields = dataclasses.fields(cls)
    missing = [
        f.name
        for f in fields
        if f.name not in d and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ValueError(f"{where or 'the document'} lacks {missing}")
    names = {f.name for f in fields}
    unknown = sorted(k for k in d if k not in names and k not in ignore)
    if unknown:
        raise ValueError(f"{where or 'the document'} has unknown fields {unknown}")
    hints = field_types(cls)
    return {k: conform(v, hints[k], f"{where}.{k}" if where else k) for k, v in d.items() if k in names}


def from_json(cls: type[T], d: Any, where: str) -> T:
    """A dataclass from a JSON object: its own `from_dict(d, where)` where it has one (extra checks,
    older layouts), else its fields type-checked by typed_fields."""
    own = getattr(cls, "from_dict", None)
    return own(d, where) if own is not None else cls(**typed_fields(cls, d, where))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(clean(obj), indent=1, allow_nan=False))


def parse_json(text: str) -> Any:
    """json.loads, stricter: no bare NaN/Infinity, no number overflowing to inf, no key twice in an
    object (Python would keep the last silently). The writer never produces any of these."""

    def constant(name: str) -> Any:
        raise ValueError(f"bare {name} is not JSON (non-finite numbers are stored as strings)")

    def finite(number: str) -> float:
        v = float(number)
        if not math.isfinite(v):
            raise ValueError(f"number {number[:40]} is out of range")
        return v

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for k, v in pairs:
            if k in d:
                raise ValueError(f"key {k!r} appears twice in one object")
            d[k] = v
        return d

    return json.loads(text, parse_constant=constant, parse_float=finite, object_pairs_hook=unique)
