"""Fast writes into interleaved (structured) vertex arrays: one attribute, or whole records.

numpy copies a field of a structured array one component at a time, with a
loop step per component (``verts["in_pos"][:] = xy`` walks 2 floats per
12-byte vertex). Here every copy follows one rule: **an attribute is copied as
one unit per vertex**, a numpy value of the attribute's byte size (a ``V12``
void for ``3f``; the field itself for a one-component attribute, which is
already one word). numpy then moves each vertex's attribute in one step of a
strided loop: a fixed-size load and store for 1, 2, 4, 8 and 16 bytes, one
``memmove`` for other sizes. That is 3-10x faster than the per-component
loop for 2-4 components, about 1.5-2x for 9 or 16, and the same loop as
numpy's own for one component. Numpy only, no GL.

Whole records (:func:`write_records`) follow the same rule with longer units:
runs of attributes that sit next to each other and share a type are one unit,
so records of the exact dtype, or plain floats into an all-float layout
without padding, are one ``memcpy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ._arena import first_loss
from ._arena._lossless import integer_range

__all__ = [
    "AttributePlan",
    "attribute_plan",
    "attribute_words",
    "check_lossless",
    "copy_attribute",
    "copy_records",
    "record_count",
    "write_attribute",
    "write_records",
]

NDArray = npt.NDArray[Any]

_WORDS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
_PLAN_CACHE_LIMIT = 256  # distinct (dtype, attribute) pairs; a program has a handful


@dataclass(frozen=True, slots=True)
class AttributePlan:
    """How one attribute of one structured dtype is copied, computed once per pair.

    ``base`` and ``shape`` are the attribute's component type and per-vertex
    shape (``()`` for one component), ``components`` their product, ``offset``
    its byte offset in the record. ``unit`` is a void of the attribute's byte
    size and ``slot`` the field view that :meth:`dest` takes: ``unit`` with a
    trailing axis of 1, the shape ``values.view(unit)`` gives a
    ``(..., components)`` array of ``base``. One-component attributes need
    neither: their field is one word already.
    """

    name: str
    base: np.dtype[Any]
    shape: tuple[int, ...]
    components: int
    offset: int
    unit: np.dtype[Any]
    slot: np.dtype[Any]
    vector: bool  # one axis of components (every VertexLayout attribute of 2 or more)
    raw: bool  # its bytes may be copied as bytes: False when the records hold objects

    def dest(self, verts: NDArray) -> NDArray:
        """The attribute of ``verts`` as one unit per vertex: shape ``verts.shape + (1,)``,
        a view (writing to it writes the vertices)."""
        return verts.getfield(self.slot, self.offset)

    def units(self, values: NDArray) -> NDArray:
        """``values`` (``base``, ending in the per-vertex shape) as one unit per vertex.

        Shape ``lead + (1,)``; a view when the components of each vertex lie
        next to each other, else a contiguous copy.
        """
        rows = values
        if len(self.shape) != 1:  # matrices, one component: one flat axis of components
            rows = values.reshape((*values.shape[: values.ndim - len(self.shape)], self.components))
        try:
            return rows.view(self.unit)
        except ValueError:  # the components are strided: gather them first
            return np.ascontiguousarray(rows).view(self.unit)


_PLANS: dict[tuple[np.dtype[Any], str], AttributePlan] = {}
_asarray = np.asarray  # globals, not module attributes: the hot path counts lookups
_ndarray = np.ndarray
_BYTES = (bytes, bytearray, memoryview)


def attribute_plan(dtype: np.dtype[Any], name: str) -> AttributePlan:
    """The copy plan of attribute ``name`` of records of ``dtype`` (cached).

    Raises KeyError naming the attributes there are when ``name`` is not one.
    """
    key = (dtype, name)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _make_plan(dtype, name)
        if len(_PLANS) >= _PLAN_CACHE_LIMIT:
            _PLANS.clear()  # many throw-away dtypes: start over rather than grow
        _PLANS[key] = plan
    return plan


def _make_plan(dtype: np.dtype[Any], name: str) -> AttributePlan:
    fields = dtype.fields
    if fields is None or name not in fields:
        have = ", ".join(fields) if fields else "no fields"
        raise KeyError(f"no attribute {name!r} in this vertex array; it has {have}.")
    ftype, offset = fields[name][:2]
    unit = np.dtype(f"V{ftype.itemsize}")
    return AttributePlan(
        name=name,
        base=ftype.base,
        shape=ftype.shape,
        components=int(np.prod(ftype.shape, dtype=np.int64)),
        offset=offset,
        unit=unit,
        slot=np.dtype((unit, (1,))),
        vector=len(ftype.shape) == 1 and not dtype.hasobject,
        raw=not dtype.hasobject,  # numpy refuses void views of references
    )


def attribute_words(verts: NDArray, name: str) -> NDArray | None:
    """Attribute ``name`` of ``verts`` as one unsigned word per vertex, or None.

    None when the attribute's size is not 1, 2, 4 or 8 bytes (no such word).
    The result is a strided view into ``verts``: writing to it writes the vertices.
    """
    plan = attribute_plan(verts.dtype, name)
    word = _WORDS.get(plan.unit.itemsize)
    if word is None:
        return None
    return verts.getfield(np.dtype(word), plan.offset)


def write_attribute(verts: NDArray, name: str, values: Any) -> None:
    """Copy ``values`` into attribute ``name`` of every vertex of ``verts``.

    ``values`` has the attribute's shape per vertex, with a leading axis of
    ``len(verts)`` or anything that broadcasts to it (one value for all, or
    ``(n, 1, ...)`` groups when ``verts`` is reshaped). The copy moves one
    unit of the attribute's size per vertex (values of another dtype are
    converted first), after a check that no value would be silently changed
    (the rule of :func:`~stagebuf.buffer`): floats into an integer attribute
    raise TypeError (``f1`` colours take 0..255 integers), and integers outside
    the attribute's range raise ValueError naming the value. A shape that does
    not fit raises ValueError and writes nothing. Zero vertices are fine, with
    any values that broadcast to them or with no values at all (``[]``).
    """
    arr = _asarray(values)
    plan = _PLANS.get((verts.dtype, name)) or attribute_plan(verts.dtype, name)
    if arr.dtype == plan.base:  # the hot path, kept short: its calls cost as much as 1k copies
        try:
            if plan.vector and isinstance(verts, _ndarray):  # a numpy.void copies a getfield
                # (n, k) values viewed as (n, 1) units: a last axis other than k
                # fails the view or the broadcast, so no shape check is needed here.
                verts.getfield(plan.slot, plan.offset)[...] = arr.view(plan.unit)
            elif not plan.shape:  # one component: the field is one word per vertex already
                verts[name] = arr
            else:
                raise ValueError  # matrices: copy_attribute flattens them
            return
        except ValueError:
            pass  # strided components, broadcasting, a wrong shape: the checked path says
    copy_attribute(verts, plan, arr, where="write_attribute")


def copy_attribute(verts: NDArray, plan: AttributePlan, arr: NDArray, *, where: str) -> None:
    """Copy ``arr`` into the attribute of ``plan``: the checked body of
    :func:`write_attribute`, with ``where`` starting its error messages."""
    if arr.dtype != plan.base:
        check_lossless(arr, plan.base, plan.name, where=where)
    try:
        if (
            plan.shape
            and plan.raw
            and arr.shape[-len(plan.shape) :] == plan.shape
            and isinstance(verts, np.ndarray)  # one record (numpy.void): numpy writes it
        ):
            if arr.dtype != plan.base:
                arr = arr.astype(plan.base)  # one vectorised cast, then the unit copy
            plan.dest(verts)[...] = plan.units(arr)
        else:  # one-component attributes, and values that broadcast per component
            verts[plan.name] = arr
    except ValueError as err:
        _refuse_shape(verts, arr, plan, where, err)


def _refuse_shape(
    verts: NDArray, arr: NDArray, plan: AttributePlan, where: str, err: ValueError
) -> None:
    """Raise the ValueError for values that do not fit, or return for a no-op."""
    if verts.size == 0 and arr.size == 0:
        return  # no values for no vertices: whatever their per-vertex shape
    if not verts.flags.writeable:
        raise err  # numpy's "assignment destination is read-only" says it
    per = f" x {plan.shape}" if plan.shape else ""
    count = verts.shape[0] if verts.ndim else 1
    raise ValueError(
        f"{where}: values of shape {arr.shape} do not fit attribute {plan.name!r} of "
        f"{count} vertices ({verts.shape}{per}); give one value per vertex, or one value "
        f"for all."
    ) from err


def check_lossless(arr: NDArray, base: np.dtype[Any], name: str, *, where: str) -> None:
    """Raise when a value of ``arr`` would change on its way into attribute ``name``
    of type ``base`` (:func:`~._arena.first_loss`'s rule): TypeError for floats
    into integers, ValueError naming the first integer out of range."""
    loss = first_loss(arr, base)
    if loss is None:
        return
    if loss.index is None:
        raise loss.error(
            f"{where}: values of {arr.dtype} would be truncated into attribute "
            f"{name!r} of {base}; pass {base} values (a normalised f1 attribute takes "
            f"integers 0..255)."
        )
    raise loss.error(
        f"{where}: value {loss.value!r} does not fit attribute {name!r} of {base}{loss.reason}"
    )


# --- whole records ---------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    """Attributes next to each other in the record, of one type: one unit per record
    (the ``"3f 2f"`` floats of a record are one 20-byte unit)."""

    plans: tuple[AttributePlan, ...]
    first_column: int  # in the plain-number form: the run's first component
    components: int
    slot: np.dtype[Any]  # (V{bytes}, (1,)): the run's field view, as AttributePlan.slot
    unit: np.dtype[Any]


@dataclass(frozen=True)
class _Records:
    """Everything :func:`copy_records` needs about one structured dtype, made once."""

    plans: tuple[AttributePlan, ...]
    width: int  # components per record, all attributes
    runs: tuple[_Run, ...]
    record: np.dtype[Any]  # V{itemsize}: a whole record as one unit
    record_slot: np.dtype[Any]  # (record, (1,)): its field view, as AttributePlan.slot
    whole: np.dtype[Any] | None  # the one type of a record that is one run, no padding


_RECORDS: dict[np.dtype[Any], _Records] = {}


def _records_plan(dtype: np.dtype[Any], where: str) -> _Records:
    plan = _RECORDS.get(dtype)
    if plan is not None:
        return plan
    if not dtype.names:
        raise TypeError(
            f"{where}: a vertex array of {dtype} has no attributes; pass a structured "
            f"array (a VertexLayout's dtype, frame.reserve(n))."
        )
    if dtype.hasobject:
        raise TypeError(
            f"{where}: records of {dtype} hold Python objects, which no vertex buffer "
            f"takes; write their attributes one by one (write_attribute)."
        )
    plans = tuple(attribute_plan(dtype, name) for name in dtype.names)
    groups: list[list[AttributePlan]] = []
    for p in plans:  # layout order: runs of neighbours in memory, of one type
        last = groups[-1][-1] if groups else None
        if (
            last is not None
            and last.base == p.base
            and last.offset + last.unit.itemsize == p.offset
        ):
            groups[-1].append(p)
        else:
            groups.append([p])
    runs = []
    column = 0
    for group in groups:
        components = sum(p.components for p in group)
        unit = np.dtype(f"V{components * group[0].base.itemsize}")
        runs.append(_Run(tuple(group), column, components, np.dtype((unit, (1,))), unit))
        column += components
    whole = None
    if len(runs) == 1 and plans[0].offset == 0 and runs[0].unit.itemsize == dtype.itemsize:
        whole = plans[0].base  # plain numbers of this type are the records' bytes
    record = np.dtype(f"V{dtype.itemsize}")
    plan = _Records(plans, column, tuple(runs), record, np.dtype((record, (1,))), whole)
    if len(_RECORDS) >= _PLAN_CACHE_LIMIT:
        _RECORDS.clear()
    _RECORDS[dtype] = plan
    return plan


def write_records(verts: NDArray, values: Any) -> None:
    """Copy whole records into ``verts`` (a structured vertex array, any shape).

    ``values`` holds ``verts.size`` records, in the C order of ``verts``, as one of:

    * a structured array of ``verts``' exact dtype: copied as bytes (one
      ``memcpy`` when both are contiguous);
    * a structured array with the same field names, in any order and of any
      types: each attribute converted and copied;
    * plain numbers with all components of a record in layout order, shape
      ``(n, components)`` or flat (``n * components`` values): the ``(n, 5)``
      floats of a ``"3f 2f"`` layout, or a list of ``(x, y, r, g, b, a)`` tuples;
    * raw bytes of whole records, padding included: a 1-D ``uint8`` array,
      ``bytes``, ``bytearray`` or ``memoryview``.

    Every attribute is checked as :func:`write_attribute` checks it, before
    anything is written: floats into an integer attribute raise TypeError,
    integers out of an attribute's range raise ValueError naming the value. A
    record count other than ``verts.size`` raises ValueError naming both; other
    field names raise TypeError. Zero records take any empty values (``[]``).
    """
    copy_records(verts, values, where="write_records")


def record_count(values: Any, dtype: np.dtype[Any], *, where: str) -> int:
    """How many records of ``dtype`` ``values`` holds, in the forms
    :func:`write_records` takes; raises as it does for anything else (``where``
    starts the messages). With :func:`copy_records`, this builds a new array:
    ``out = np.zeros(record_count(v, dt, where=w), dt); copy_records(out, v, where=w)``.
    """
    return _records_in(as_values(values), dtype, _records_plan(dtype, where), where)[0]


def as_values(values: Any) -> NDArray:
    """``values`` as an ndarray: bytes-like objects as raw ``uint8`` bytes."""
    if isinstance(values, _BYTES):
        return np.frombuffer(values, np.uint8)
    return _asarray(values)


def copy_records(verts: NDArray, values: Any, *, where: str) -> None:
    """:func:`write_records` with ``where`` starting its error messages."""
    if not isinstance(verts, _ndarray):
        raise TypeError(
            f"{where}: records go into an array of records; got {type(verts).__name__} "
            f"(for record i, pass records[i : i + 1])."
        )
    plan = _RECORDS.get(verts.dtype) or _records_plan(verts.dtype, where)
    arr = as_values(values)
    if (
        plan.whole is not None  # (numpy takes a dtype == None for float64)
        and arr.dtype == plan.whole  # e.g. (n, 5) float32 into "3f 2f": the records' bytes
        and arr.size == verts.size * plan.width
        and (arr.ndim == 1 or arr.shape[-1] == plan.width)
    ):
        try:
            src = arr.reshape((*verts.shape, plan.width)).view(plan.record)
        except ValueError:
            pass  # strided components: the general path gathers them
        else:
            verts.getfield(plan.record_slot, 0)[...] = src
            return
    if verts.size == 0 and arr.size == 0:
        return
    count, form = _records_in(arr, verts.dtype, plan, where)
    if count != verts.size:
        held = f"{arr.size} bytes" if form == "bytes" else f"shape {arr.shape}"
        raise ValueError(
            f"{where}: the values hold {count} records ({held}); the vertex array holds "
            f"{verts.size} (shape {verts.shape})."
        )
    if form in ("bytes", "records"):  # the whole record is one unit
        src = np.ascontiguousarray(arr) if form == "bytes" else arr
        verts.view(plan.record)[...] = src.view(plan.record).reshape(verts.shape)
        return
    copies = _field_copies(arr, plan, where) if form == "fields" else _run_copies(arr, plan, where)
    lead = (*verts.shape, 1)
    for offset, slot, units in copies:  # all checked and converted: nothing raises now
        verts.getfield(slot, offset)[...] = units.reshape(lead)


def _records_in(arr: NDArray, dtype: np.dtype[Any], plan: _Records, where: str) -> tuple[int, str]:
    """(record count, form): "records", "bytes", "fields" or "columns"."""
    if arr.dtype.names is not None:
        if arr.dtype == dtype:
            return arr.size, "records"
        names, want = set(arr.dtype.names), {p.name for p in plan.plans}
        if names != want:
            raise TypeError(
                f"{where}: the values' fields {sorted(names)} are not the vertex array's "
                f"{sorted(want)}."
            )
        return arr.size, "fields"
    if arr.dtype == np.uint8 and arr.ndim == 1:
        size = dtype.itemsize
        if arr.size % size:
            raise ValueError(
                f"{where}: {arr.size} bytes are not a whole number of {size}-byte records."
            )
        return arr.size // size, "bytes"
    width = plan.width
    if arr.ndim == 0 or (arr.ndim > 1 and arr.shape[-1] != width) or arr.size % width:
        per = ", ".join(f"{p.name} {p.components}" for p in plan.plans)
        raise ValueError(
            f"{where}: values of shape {arr.shape} are not records of {width} components "
            f"({per}); pass shape (n, {width}), n * {width} values, a structured array or "
            f"raw uint8 bytes."
        )
    return arr.size // width, "columns"


def _field_copies(
    arr: NDArray, plan: _Records, where: str
) -> list[tuple[int, np.dtype[Any], NDArray]]:
    """Each field of structured values, checked, converted and as one unit per record."""
    flat = arr.reshape(-1)
    copies = []
    for p in plan.plans:
        src = flat[p.name]
        got = int(np.prod(src.shape[1:], dtype=np.int64))
        if got != p.components:
            raise ValueError(
                f"{where}: field {p.name!r} of the values holds {got} components per "
                f"record; the attribute holds {p.components}."
            )
        block = src.reshape(len(flat), got)
        if block.dtype != p.base:
            block = _converted(block, p.base, [(p, 0)], where)
        copies.append((p.offset, p.slot, _units(block, p.unit)))
    return copies


def _run_copies(
    arr: NDArray, plan: _Records, where: str
) -> list[tuple[int, np.dtype[Any], NDArray]]:
    """Each run of plain-number columns, checked, converted and as one unit per record."""
    rows = arr.reshape(-1, plan.width)
    copies = []
    for run in plan.runs:
        first = run.first_column
        block = rows[:, first : first + run.components]
        base = run.plans[0].base
        if block.dtype != base:
            at, starts = 0, []
            for p in run.plans:
                starts.append((p, at))
                at += p.components
            block = _converted(block, base, starts, where)
        copies.append((run.plans[0].offset, run.slot, _units(block, run.unit)))
    return copies


def _units(block: NDArray, unit: np.dtype[Any]) -> NDArray:
    """``(N, c)`` components as ``(N, 1)`` units: a view when each row is contiguous."""
    try:
        return block.view(unit)
    except ValueError:  # strided components: gather them first
        return np.ascontiguousarray(block).view(unit)


def _converted(
    block: NDArray, base: np.dtype[Any], attributes: list[tuple[AttributePlan, int]], where: str
) -> NDArray:
    """``block`` (``(N, c)`` values, the columns of ``attributes`` at their first
    column) checked by the lossless rule and converted to a contiguous ``(N, c)``
    of ``base``.

    One column at a time: numpy converts and scans a strided 2-D block with a
    loop step per row, a column in one long loop (2-4x faster for 10k rows).
    """
    narrowing = (
        block.dtype.kind in "iub"
        and base.kind in "iub"
        and not np.can_cast(block.dtype, base, "safe")
        and block.size > 0
    )
    for p, first in attributes:
        columns = block[:, first : first + p.components]
        if narrowing:  # a quick screen of each column's range; the rule names the culprit
            lo, hi = integer_range(base)
            if all(lo <= int(c.min()) and int(c.max()) <= hi for c in columns.T):
                continue
        check_lossless(columns, base, p.name, where=where)
    out = np.empty(block.shape, base)
    for j in range(block.shape[1]):
        out[:, j] = block[:, j]
    return out
