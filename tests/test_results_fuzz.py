"""Property-based tests of the results reader: random corruption of a real results file never gives
a traceback or a silently wrong value.

`results.load` on a corrupted copy of tests/data/suite-mlp-iris.json either raises UsageError, or
returns a Suite that says exactly what the file says (nothing coerced, nothing invented: only a
field the file lacks takes its documented default), and the original Suite when the corruption
changed nothing. Corruptions: byte flips, truncation, deleted keys, values replaced by values of
another JSON type, and wrong schema versions. A value corrupted into another value of the same
type (a flipped digit) cannot be told from the real thing without a checksum; the property then is
that the value read is the value in the file.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bench.core import typedjson
from bench.core.errors import UsageError
from bench.records import results

FIXTURE = Path(__file__).parent / "data" / "suite-mlp-iris.json"
RAW = FIXTURE.read_bytes()
DOC = json.loads(RAW)
ORIGINAL = results.load(FIXTURE)
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

Path_ = tuple[str | int, ...]


def load_text(tmp_path: Path, data: bytes) -> results.Suite:
    p = tmp_path / "fuzzed.json"
    p.write_bytes(data)
    return results.load(p)


def dataclass_in(hint: Any) -> Any:
    """The dataclass a field holds (X, X | None, list[X]), or None."""
    if dataclasses.is_dataclass(hint):
        return hint
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType, list) and len(args) == 1:
        return dataclass_in(args[0])
    return None


def fill(cls: type, d: Any) -> Any:
    """A stored object of dataclass `cls` as the reader must see it: absent optional fields at their
    defaults, nested records filled the same way."""
    if not isinstance(d, dict):
        return d
    out = dict(d)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name not in out and f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.name not in out and f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
        inner = dataclass_in(hints[f.name])
        if inner is not None and out[f.name] is not None:
            v = out[f.name]
            out[f.name] = [fill(inner, x) for x in v] if isinstance(v, list) else fill(inner, v)
    return out


def with_defaults(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as the reader must see it, written back: optional fields at their defaults."""
    top = fill(results.Suite, doc)
    top["schema_version"] = results.SCHEMA_VERSION  # older readable versions are written back as the current one
    return json.loads(json.dumps(typedjson.clean(top), default=lambda x: dataclasses.asdict(x)))


def as_stored(suite: results.Suite) -> Any:
    """The Suite written back the way the writer writes it (non-finite floats as strings)."""
    return json.loads(json.dumps(typedjson.clean(suite.to_dict()), allow_nan=False))


def assert_faithful(suite: results.Suite, file_doc: Any) -> None:
    """What was read is what the file holds."""
    assert as_stored(suite) == with_defaults(file_doc)


def paths(doc: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every key and list index in the document."""
    out: list[Path_] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for k, v in items:
        out.append((*prefix, k))
        out.extend(paths(v, (*prefix, k)))
    return out


ALL_PATHS = paths(DOC)


def get(doc: Any, path: Path_) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def hint_at(path: Path_) -> Any:
    """The type annotation governing `path`: Any inside free-form fields (environment, settings ...),
    None for the schema keys (checked by value)."""
    hint: Any = results.Suite
    for k in path:
        if hint is Any:
            return Any
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]
        if dataclasses.is_dataclass(hint):
            if k in ("schema", "schema_version"):
                return None
            hint = typing.get_type_hints(hint)[k]
            continue
        hint = typing.get_args(hint)[0 if typing.get_origin(hint) in (list, tuple) else -1]  # list/tuple/dict -> item
    return hint


def allows(hint: Any, value: Any) -> bool:
    """Whether a value of another JSON type than the original may stand at a place annotated `hint`."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return (
        hint is Any
        or type(value) in options  # another JSON type than the original's, but one the annotation names (null -> str)
        or (float in options and type(value) is int)  # JSON has one number type: 0 stands for 0.0
        or (value is None and type(None) in options)
        or (float in options and isinstance(value, str) and value in typedjson.NON_FINITE)
    )


def kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    return type(v).__name__


JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
)


def test_the_fixture_reads_as_it_is_stored() -> None:
    assert_faithful(ORIGINAL, DOC)
    assert hint_at(("results", 0, "step_ms", 3)) is float
    assert hint_at(("results", 0, "config", "seed")) is int
    assert hint_at(("results", 0, "memory", "peak_mib")) == float | None
    assert hint_at(("plan", "repeats")) is int
    assert hint_at(("plan", "workloads", 0)) is str


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, len(RAW) - 1), st.integers(0, 255)), min_size=1, max_size=4))
def test_byte_flips(tmp_path: Path, flips: list[tuple[int, int]]) -> None:
    data = bytearray(RAW)
    for i, b in flips:
        data[i] = b
    try:
        suite = load_text(tmp_path, bytes(data))
    except UsageError:
        return
    if bytes(data) == RAW:
        assert suite == ORIGINAL
    assert_faithful(suite, json.loads(bytes(data)))


@FUZZ
@given(cut=st.integers(0, len(RAW) - 1))
def test_truncation_is_always_refused(tmp_path: Path, cut: int) -> None:
    assume(RAW[:cut].strip() != RAW.strip())
    with pytest.raises(UsageError):
        load_text(tmp_path, RAW[:cut])


@FUZZ
@given(path=st.sampled_from(ALL_PATHS))
def test_deleted_keys(tmp_path: Path, path: Path_) -> None:
    doc = json.loads(RAW)
    parent, key = get(doc, path[:-1]), path[-1]
    del parent[key]
    try:
        suite = load_text(tmp_path, json.dumps(doc).encode())
    except UsageError as e:
        if isinstance(key, str):  # the missing field is named
            assert repr(key) in str(e) or key == "results" or key.startswith("schema"), str(e)
        return
    # accepted: only an optional field of a Result or the Suite, a list item, or free-form content
    hint = dataclass_in(hint_at(path[:-1])) if isinstance(key, str) else None
    if hint is not None:
        field = next(f for f in dataclasses.fields(hint) if f.name == key)
        assert field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
    assert_faithful(suite, doc)


@FUZZ
@given(path=st.sampled_from(ALL_PATHS), value=JSON_VALUES)
def test_values_of_another_type(tmp_path: Path, path: Path_, value: Any) -> None:
    doc = json.loads(RAW)
    old = get(doc, path)
    assume(kind(value) != kind(old))
    get(doc, path[:-1])[path[-1]] = value
    hint = hint_at(path)
    try:
        suite = load_text(tmp_path, json.dumps(doc).encode())
    except UsageError:
        return
    assert allows(hint, value), (path, hint, value)  # free-form content, null where optional, "nan" for a float
    assert_faithful(suite, doc)


@FUZZ
@given(version=st.one_of(JSON_VALUES, st.just(1.0), st.just(True), st.just("1"), st.integers(2, 10)))
def test_wrong_schema_versions_are_refused(tmp_path: Path, version: Any) -> None:
    assume(not (type(version) is int and version in results.READABLE_VERSIONS))
    doc = json.loads(RAW)
    doc["schema_version"] = version
    with pytest.raises(UsageError, match="schema_version"):
        load_text(tmp_path, json.dumps(doc).encode())


@FUZZ
@given(schema=JSON_VALUES)
def test_a_wrong_schema_name_is_refused(tmp_path: Path, schema: Any) -> None:
    doc = json.loads(RAW)
    doc["schema"] = schema
    with pytest.raises(UsageError, match="not an fwbench results document"):
        load_text(tmp_path, json.dumps(doc).encode())


def test_non_finite_numbers_round_trip_and_bare_nan_is_refused(tmp_path: Path) -> None:
    diverged = dataclasses.replace(ORIGINAL.results[0], status="diverged", final_loss=float("inf"), metric=None)
    suite = dataclasses.replace(ORIGINAL, run_id="nan", results=[diverged])
    path = results.create(tmp_path, suite)
    assert '"final_loss": "inf"' in path.read_text()
    assert results.load(path).results[0].final_loss == float("inf")  # a float again, not the string
    path.write_text(path.read_text().replace('"final_loss": "inf"', '"final_loss": Infinity'))
    with pytest.raises(UsageError, match="bare Infinity"):
        results.load(path)


def test_a_duplicated_key_is_refused(tmp_path: Path) -> None:
    text = RAW.decode().replace('"status": "ok",', '"status": "ok", "status": "failed",', 1)
    with pytest.raises(UsageError, match="'status' appears twice"):
        load_text(tmp_path, text.encode())
