"""write_attribute and attribute_words: word-wide copies into one attribute (numpy only)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import stagebuf as sb

LAYOUT = sb.VertexLayout(in_pos="2f", in_color="4f1")
ODD = sb.VertexLayout(in_pos="3f", in_id="1u2", pad="2x 1f")  # 12-byte in_pos: no word


def verts(n: int, layout: sb.VertexLayout = LAYOUT) -> np.ndarray[Any, Any]:
    return np.zeros(n, layout.dtype)


def test_words_view_one_word_per_vertex() -> None:
    v = verts(3)
    words = sb.attribute_words(v, "in_color")
    assert words is not None and words.dtype == np.uint32 and words.shape == (3,)
    words[:] = 0x04030201
    assert v["in_color"].tolist() == [[1, 2, 3, 4]] * 3


def test_words_is_none_without_a_word_size() -> None:
    assert sb.attribute_words(verts(2, ODD), "in_pos") is None


@pytest.mark.parametrize("n", [0, 1, 3, 1000])
def test_write_attribute_copies_each_vertex(n: int) -> None:
    v = verts(n)
    xy = np.arange(2 * n, dtype=np.float32).reshape(n, 2)
    rgba = (np.arange(4 * n) % 256).astype(np.uint8).reshape(n, 4)
    sb.write_attribute(v, "in_pos", xy)
    sb.write_attribute(v, "in_color", rgba)
    assert np.array_equal(v["in_pos"], xy) and np.array_equal(v["in_color"], rgba)


def test_write_attribute_zero_vertices_in_every_form() -> None:
    # Zero vertices used to fail in the word-wide path (reshape(0, -1) is ambiguous).
    v = verts(0)
    sb.write_attribute(v, "in_pos", np.zeros((0, 2), np.float32))
    sb.write_attribute(v, "in_color", np.zeros((0, 4), np.uint8))
    sb.write_attribute(v, "in_color", np.zeros((0, 4), np.int64))  # checked, nothing to lose
    sb.write_attribute(v, "in_pos", np.zeros(2, np.float32))  # broadcast to no vertex
    assert v.shape == (0,)


def test_write_attribute_broadcasts_and_converts() -> None:
    v = verts(3)
    sb.write_attribute(v, "in_color", [1, 2, 3, 4])  # one value for all, ints fit u1
    sb.write_attribute(v, "in_pos", [[0.5, 1.5]] * 3)  # float64 into f4: same kind
    assert v["in_color"].tolist() == [[1, 2, 3, 4]] * 3
    assert v["in_pos"].tolist() == [[0.5, 1.5]] * 3


def test_write_attribute_non_contiguous_values() -> None:
    v = verts(4)
    xy = np.arange(16, dtype=np.float32).reshape(4, 4)[:, ::2]
    sb.write_attribute(v, "in_pos", xy)
    assert np.array_equal(v["in_pos"], xy)


def test_write_attribute_without_a_word_size() -> None:
    v = verts(2, ODD)
    sb.write_attribute(v, "in_pos", np.ones((2, 3), np.float32))
    assert v["in_pos"].tolist() == [[1, 1, 1]] * 2


def test_write_attribute_refuses_floats_into_bytes() -> None:
    with pytest.raises(TypeError, match=r"values of float64 would be truncated into attribute"):
        sb.write_attribute(verts(1), "in_color", [[1.5, 0, 0, 0]])


@pytest.mark.parametrize("value", [300, -1])
def test_write_attribute_refuses_out_of_range_ints(value: int) -> None:
    with pytest.raises(
        ValueError, match=rf"value {value} does not fit attribute 'in_color' of uint8; expected 0"
    ):
        sb.write_attribute(verts(2), "in_color", [[0, 0, 0, 0], [value, 0, 0, 0]])


def test_write_attribute_takes_bools_as_zero_and_one() -> None:
    v = verts(1)
    sb.write_attribute(v, "in_color", np.array([[True, False, True, True]]))
    assert v["in_color"].tolist() == [[1, 0, 1, 1]]


def test_write_attribute_unknown_name() -> None:
    with pytest.raises(KeyError, match=r"no attribute 'in_uv' in this vertex array; it has in_pos"):
        sb.write_attribute(verts(1), "in_uv", [[0, 0]])


def test_write_attribute_names_a_shape_that_does_not_fit() -> None:
    verts = np.zeros(3, sb.VertexLayout(in_pos="2f", in_color="4f1").dtype)
    with pytest.raises(
        ValueError, match=r"write_attribute: values of shape \(2, 2\) do not fit attribute 'in_pos'"
    ):
        sb.write_attribute(verts, "in_pos", np.zeros((2, 2), np.float32))
    with pytest.raises(
        ValueError, match=r"values of shape \(2, 4\) do not fit attribute 'in_color'"
    ):
        sb.write_attribute(verts, "in_color", np.zeros((2, 4), np.int64))
    assert not verts["in_pos"].any()  # nothing written


# --- every format: the bytes numpy's own field assignment writes ------------------------

FORMATS = ["f", "2f", "3f", "4f", "9f", "16f", "i", "4f1", "2u2", "3i", "4u1"]
FORMATS += ["f2 2x", "3f2 2x", "4f8 4x", "2i1 2x", "3u", "1u1 3x"]  # sizes 2, 6, 32, 2, 12, 1


def interleaved(fmt: str) -> sb.VertexLayout:
    return sb.VertexLayout(in_pos="2f", in_attr=fmt, in_color="4f1")


def garbage(shape: Any, dtype: np.dtype[Any], seed: int = 7) -> np.ndarray[Any, Any]:
    """Records full of random bytes: a write that strays into a neighbour shows."""
    out = np.empty(shape, dtype)
    out.view(np.uint8)[...] = np.random.default_rng(seed).integers(
        0, 256, out.view(np.uint8).shape, dtype=np.uint8
    )
    return out


def values_of(ftype: np.dtype[Any], lead: tuple[int, ...], seed: int = 3) -> Any:
    rng = np.random.default_rng(seed)
    shape = (*lead, *ftype.shape)
    if ftype.base.kind == "f":
        return rng.standard_normal(shape).round(3).astype(ftype.base)  # no f2 underflow
    info = np.iinfo(ftype.base)
    return rng.integers(info.min, info.max, shape, dtype=ftype.base, endpoint=True)


def clone(records: Any) -> Any:
    """A copy of contiguous records, padding bytes included (numpy's copy skips them)."""
    return records.view(np.uint8).copy().view(records.dtype).reshape(records.shape)


def raw(records: Any) -> bytes:
    return bytes(records.view(np.uint8))


def expect_same_bytes(base: Any, name: str, values: Any, view: Any = lambda a: a) -> None:
    """write_attribute into ``view(base)`` leaves in ``base`` exactly the bytes
    ``view(base)[name][...] = values`` leaves."""
    want = clone(base)
    view(want)[name][...] = values
    sb.write_attribute(view(base), name, values)
    assert raw(base) == raw(want)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("n", [0, 1, 5, 1000])
def test_every_format_writes_numpys_bytes(fmt: str, n: int) -> None:
    layout = interleaved(fmt)
    ftype = layout.dtype.fields["in_attr"][0]
    expect_same_bytes(garbage(n, layout.dtype), "in_attr", values_of(ftype, (n,)))


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_through_views(fmt: str) -> None:
    layout = interleaved(fmt)
    ftype = layout.dtype.fields["in_attr"][0]
    base = garbage(24, layout.dtype)
    expect_same_bytes(base, "in_attr", values_of(ftype, (8,)), lambda a: a[::3])  # strided
    expect_same_bytes(base, "in_attr", values_of(ftype, (4, 6)), lambda a: a.reshape(4, 6))
    expect_same_bytes(base, "in_attr", values_of(ftype, (4, 1)), lambda a: a.reshape(4, 6))
    expect_same_bytes(base, "in_attr", values_of(ftype, ()))  # one value for all
    expect_same_bytes(base, "in_attr", values_of(ftype, ()), lambda a: a[5:6].reshape(()))
    values = values_of(ftype, (48,))
    expect_same_bytes(base, "in_attr", values[::2])  # strided values, rows apart
    if ftype.shape:
        wide = np.repeat(values_of(ftype, (24,)), 2, axis=-1)
        expect_same_bytes(base, "in_attr", wide[..., ::2])  # strided components
        expect_same_bytes(base, "in_attr", np.asfortranarray(values_of(ftype, (24,))))
        one = values_of(ftype, ())
        expect_same_bytes(base, "in_attr", np.broadcast_to(one, (24, *ftype.shape)))


@pytest.mark.parametrize("fmt", ["f", "3f", "4f1"])
def test_one_record_of_an_array_is_written_through(fmt: str) -> None:
    layout = interleaved(fmt)
    values = values_of(layout.dtype.fields["in_attr"][0], ())
    base = garbage(4, layout.dtype)
    want = clone(base)
    want[2]["in_attr"] = values
    sb.write_attribute(base[2], "in_attr", values)  # a numpy.void that writes into base
    assert raw(base) == raw(want)


@pytest.mark.parametrize("fmt", ["f", "3f", "4f1", "2u2", "3i"])
def test_converted_values_write_numpys_bytes(fmt: str) -> None:
    layout = interleaved(fmt)
    ftype = layout.dtype.fields["in_attr"][0]
    values = values_of(ftype, (10,))
    wider = values.astype(np.float64 if ftype.base.kind == "f" else np.int64)
    expect_same_bytes(garbage(10, layout.dtype), "in_attr", wider)
    expect_same_bytes(garbage(10, layout.dtype), "in_attr", wider.tolist())  # lists too


def test_matrix_attributes_of_other_dtypes() -> None:
    dtype = np.dtype([("m", np.float32, (2, 3)), ("k", np.uint16)])
    values = np.arange(4 * 6, dtype=np.float32).reshape(4, 2, 3)
    expect_same_bytes(garbage(4, dtype), "m", values)
    expect_same_bytes(garbage(4, dtype), "m", values[0])
    with pytest.raises(ValueError, match=r"values of shape \(4, 6\) do not fit attribute 'm'"):
        sb.write_attribute(garbage(4, dtype), "m", values.reshape(4, 6))


def test_words_match_the_attribute_for_every_word_size() -> None:
    for fmt, word in [
        ("4f1", np.uint32),
        ("2f", np.uint64),
        ("f2 2x", np.uint16),
        ("2i1 2x", np.uint16),
    ]:
        v = garbage(3, interleaved(fmt).dtype)
        words = sb.attribute_words(v, "in_attr")
        assert words is not None and words.dtype == word and words.shape == (3,)
        assert words.tobytes() == v["in_attr"].tobytes()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("empty", [[], (), np.zeros(0), np.zeros((0, 5), np.int8)])
def test_zero_vertices_take_empty_values(fmt: str, empty: Any) -> None:
    layout = interleaved(fmt)
    for v in (np.zeros(0, layout.dtype), np.zeros(6, layout.dtype)[6:].reshape(0, 3)):
        sb.write_attribute(v, "in_attr", empty)


def test_zero_vertices_refuse_values_that_are_not_empty() -> None:
    with pytest.raises(
        ValueError, match=r"values of shape \(3, 2\) do not fit attribute 'in_pos' of 0 vertices"
    ):
        sb.write_attribute(verts(0), "in_pos", np.zeros((3, 2), np.float32))


def test_vertices_refuse_empty_values() -> None:
    with pytest.raises(
        ValueError, match=r"values of shape \(0,\) do not fit attribute 'in_pos' of 2 vertices"
    ):
        sb.write_attribute(verts(2), "in_pos", [])


@pytest.mark.parametrize("name", ["in_pos", "in_color"])
def test_read_only_vertices_raise_numpys_error(name: str) -> None:
    v = verts(2)
    v.flags.writeable = False
    values = np.zeros((2, 2), np.float32) if name == "in_pos" else np.zeros((2, 4), np.uint8)
    with pytest.raises(ValueError, match=r"read-only"):
        sb.write_attribute(v, name, values)


def test_strided_values_of_the_wrong_shape_name_it() -> None:
    xy = np.zeros((3, 4), np.float32)[:, ::2]
    with pytest.raises(ValueError, match=r"values of shape \(3, 2\) do not fit attribute 'in_pos'"):
        sb.write_attribute(verts(2), "in_pos", xy)


def test_values_with_too_many_components_name_their_shape() -> None:
    for shape in [(3, 4), (3, 3), (6,), (1, 4)]:
        with pytest.raises(ValueError, match=rf"values of shape \({shape[0]}, ?"):
            sb.write_attribute(verts(3), "in_pos", np.zeros(shape, np.float32))


def test_bad_integers_in_a_three_component_attribute() -> None:
    v = np.zeros(2, sb.VertexLayout(in_id="3i", in_pos="2f").dtype)
    with pytest.raises(TypeError, match=r"values of float32 would be truncated into attribute"):
        sb.write_attribute(v, "in_id", np.zeros((2, 3), np.float32))
    with pytest.raises(
        ValueError, match=r"value 2147483648 does not fit attribute 'in_id' of int32; expected"
    ):
        sb.write_attribute(v, "in_id", [[0, 0, 0], [0, 2**31, 0]])
    assert not v["in_id"].any()


# --- write_records -----------------------------------------------------------------------

MIXED = sb.VertexLayout(in_pos="3f", in_id="1u2 2x", in_color="4f1")  # padding inside


def test_records_of_the_exact_dtype_are_copied_as_bytes() -> None:
    src = garbage(10, MIXED.dtype, seed=1)
    dst = garbage(10, MIXED.dtype)
    sb.write_records(dst, src)
    assert raw(dst) == raw(src)  # padding included
    base = garbage(20, MIXED.dtype)
    sb.write_records(base[::2], src)
    assert [raw(base[i : i + 1]) for i in range(0, 20, 2)] == [
        raw(src[i : i + 1]) for i in range(10)
    ]


def test_records_fill_a_reshaped_view_in_c_order() -> None:
    src = garbage(12, MIXED.dtype, seed=1)
    base = garbage(24, MIXED.dtype)
    records = [raw(src[i : i + 1]) for i in range(12)]
    for values in (src, src.reshape(4, 3)):  # any shape of as many records
        sb.write_records(base[::2].reshape(3, 4), values)
        assert [raw(base[i : i + 1]) for i in range(0, 24, 2)] == records


@pytest.mark.parametrize(
    "raw", [bytes, bytearray, memoryview, lambda b: np.frombuffer(b, np.uint8)]
)
def test_records_from_raw_bytes(raw: Any) -> None:
    src = garbage(5, MIXED.dtype, seed=2)
    dst = garbage(5, MIXED.dtype)
    sb.write_records(dst, raw(src.tobytes()))
    assert dst.tobytes() == src.tobytes()


def test_records_from_fields_in_another_order_and_types() -> None:
    n = 6
    src = np.zeros(n, [("in_color", np.int64, 4), ("in_pos", np.float64, 3), ("in_id", np.int8)])
    src["in_color"] = np.arange(4 * n).reshape(n, 4)
    src["in_pos"] = np.linspace(-1, 1, 3 * n).reshape(n, 3)
    src["in_id"] = np.arange(n)
    dst = garbage(n, MIXED.dtype)
    want = clone(dst)
    for name in MIXED.names:
        want[name] = src[name]
    sb.write_records(dst, src)
    assert raw(dst) == raw(want)  # the padding keeps its bytes


def test_records_from_fields_of_the_same_types_in_another_layout() -> None:
    src = np.zeros(3, [("in_color", np.uint8, 4), ("in_id", np.uint16), ("in_pos", np.float32, 3)])
    src["in_pos"] = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    src["in_color"] = 200
    src["in_id"] = [7, 8, 9]
    dst = np.zeros(3, MIXED.dtype)
    sb.write_records(dst, src)
    assert dst["in_pos"].tolist() == src["in_pos"].tolist()
    assert dst["in_id"].tolist() == [7, 8, 9] and (dst["in_color"] == 200).all()


def test_plain_floats_fill_an_all_float_layout_as_one_block() -> None:
    layout = sb.VertexLayout(in_pos="3f", in_uv="2f")
    arr = np.arange(35, dtype=np.float32).reshape(7, 5)
    dst = garbage(7, layout.dtype)
    want = clone(dst)
    want.view(np.float32).reshape(-1, 5)[:] = arr  # what the users wrote
    sb.write_records(dst, arr)
    assert dst.tobytes() == want.tobytes()
    sb.write_records(dst, arr.reshape(-1) + 1)  # flat
    assert dst.view(np.float32).tolist() == (arr.reshape(-1) + 1).tolist()
    sb.write_records(dst, np.asfortranarray(arr))  # strided rows
    assert dst.tobytes() == want.tobytes()


def test_plain_numbers_fill_a_mixed_layout_column_by_column() -> None:
    rows = [(1, 2, 3, 7, 10, 20, 30, 255), (-4, 5, 6, 65535, 0, 1, 2, 3)]
    for values in (
        rows,
        np.array(rows, np.int32),
        np.array(rows).reshape(-1),
        np.asfortranarray(rows),
    ):
        dst = garbage(2, MIXED.dtype)
        want = clone(dst)
        want["in_pos"] = [r[:3] for r in rows]
        want["in_id"] = [r[3] for r in rows]
        want["in_color"] = [r[4:] for r in rows]
        sb.write_records(dst, values)
        assert raw(dst) == raw(want)  # the padding keeps its bytes


def test_plain_floats_into_a_layout_with_integers_are_refused() -> None:
    rows = [(0.5, 1.5, 2.5, 7, 10, 20, 30, 255)]  # whole or not, floats are no integers
    for values in (rows, np.array(rows, np.float32)):
        with pytest.raises(
            TypeError, match=r"write_records: values of float\d+ would be truncated into attr"
        ):
            sb.write_records(np.zeros(1, MIXED.dtype), values)


def test_plain_integers_fill_every_attribute_type() -> None:
    values = np.arange(2 * 8).reshape(2, 8)
    dst = np.zeros(2, MIXED.dtype)
    sb.write_records(dst, values)
    assert dst["in_pos"].tolist() == [[0, 1, 2], [8, 9, 10]]
    assert dst["in_id"].tolist() == [3, 11]
    assert dst["in_color"].tolist() == [[4, 5, 6, 7], [12, 13, 14, 15]]


def test_records_refuse_floats_into_integer_attributes_and_write_nothing() -> None:
    dst = garbage(2, MIXED.dtype)
    before = dst.tobytes()
    with pytest.raises(
        TypeError,
        match=r"write_records: values of float32 would be truncated into attribute 'in_id'",
    ):
        sb.write_records(dst, np.zeros((2, 8), np.float32))
    assert dst.tobytes() == before


@pytest.mark.parametrize("bad", [256, -1])
def test_records_name_an_integer_out_of_range_and_write_nothing(bad: int) -> None:
    dst = garbage(2, MIXED.dtype)
    before = dst.tobytes()
    values = np.zeros((2, 8), np.int64)
    values[1, 6] = bad  # in_color, after in_pos and in_id passed their checks
    with pytest.raises(
        ValueError, match=rf"write_records: value {bad} does not fit attribute 'in_color' of uint8"
    ):
        sb.write_records(dst, values)
    src = np.zeros(2, [("in_pos", "f4", 3), ("in_id", "i4"), ("in_color", "i4", 4)])
    src["in_id"][1] = bad * 300
    with pytest.raises(ValueError, match=rf"value {bad * 300} does not fit attribute 'in_id'"):
        sb.write_records(dst, src)
    assert dst.tobytes() == before


def test_records_refuse_a_count_that_does_not_match() -> None:
    dst = np.zeros(3, MIXED.dtype)
    cases: list[tuple[Any, str]] = [
        (np.zeros(2, MIXED.dtype), r"hold 2 records \(shape \(2,\)\); the vertex array holds 3"),
        (np.zeros((4, 8)), r"hold 4 records \(shape \(4, 8\)\); the vertex array holds 3"),
        (np.zeros(16), r"hold 2 records \(shape \(16,\)\); the vertex array holds 3"),
        (b"\0" * 40, r"hold 2 records \(40 bytes\); the vertex array holds 3"),
        (np.zeros(4, [(n, "f8") for n in MIXED.names]), r"hold 4 records"),
    ]
    for values, match in cases:
        with pytest.raises(ValueError, match=r"write_records: the values " + match):
            sb.write_records(dst, values)


def test_records_refuse_values_that_are_no_records() -> None:
    dst = np.zeros(3, MIXED.dtype)
    with pytest.raises(ValueError, match=r"41 bytes are not a whole number of 20-byte records"):
        sb.write_records(dst, b"\0" * 41)
    with pytest.raises(
        ValueError,
        match=r"values of shape \(3, 7\) are not records of 8 components \(in_pos 3, in_id 1, ",
    ):
        sb.write_records(dst, np.zeros((3, 7)))
    with pytest.raises(ValueError, match=r"values of shape \(\) are not records of 8"):
        sb.write_records(dst, 1.0)
    with pytest.raises(ValueError, match=r"values of shape \(25,\) are not records of 8"):
        sb.write_records(dst, np.zeros(25))
    with pytest.raises(
        TypeError, match=r"fields \['in_color', 'in_pos'\] are not the vertex array's"
    ):
        sb.write_records(dst, np.zeros(3, [("in_pos", "f4", 3), ("in_color", "u1", 4)]))
    with pytest.raises(
        ValueError,
        match=r"field 'in_pos' of the values holds 2 components per record; the attribute holds 3",
    ):
        sb.write_records(
            dst, np.zeros(3, [("in_pos", "f4", 2), ("in_id", "u2"), ("in_color", "u1", 4)])
        )
    with pytest.raises(TypeError, match=r"a vertex array of float32 has no attributes"):
        sb.write_records(np.zeros(3, np.float32), np.zeros(3))
    with pytest.raises(TypeError, match=r"a vertex array of \[\] has no attributes"):
        sb.write_records(np.zeros(3, np.dtype([])), np.zeros(3))
    with pytest.raises(TypeError, match=r"write_records: records go into an array of records"):
        sb.write_records(dst[0], dst[1])


def test_records_holding_objects() -> None:
    dtype = np.dtype([("in_pos", np.float32, 2), ("label", object)])
    v = np.zeros(2, dtype)
    sb.write_attribute(v, "in_pos", np.ones((2, 2), np.float32))  # numpy's assignment
    sb.write_attribute(v, "label", np.array(["a", "b"], object))
    assert v["in_pos"].tolist() == [[1, 1], [1, 1]] and v["label"].tolist() == ["a", "b"]
    with pytest.raises(TypeError, match=r"hold Python objects, which no vertex buffer takes"):
        sb.write_records(v, v.copy())


@pytest.mark.parametrize(
    "empty", [[], np.zeros(0), np.zeros((0, 8)), np.zeros((0, 3)), b"", np.zeros(0, MIXED.dtype)]
)
def test_zero_records_take_empty_values(empty: Any) -> None:
    sb.write_records(np.zeros(0, MIXED.dtype), empty)
    sb.write_records(np.zeros((2, 0), MIXED.dtype), empty)


def test_zero_records_refuse_values() -> None:
    with pytest.raises(ValueError, match=r"the values hold 1 records \(shape \(8,\)\)"):
        sb.write_records(np.zeros(0, MIXED.dtype), np.zeros(8))


def test_record_count_and_copy_records_build_an_array() -> None:
    from stagebuf._pack import copy_records, record_count

    rows = np.arange(3 * 8).reshape(3, 8)
    count = record_count(rows, MIXED.dtype, where="Mesh")
    out = np.zeros(count, MIXED.dtype)
    copy_records(out, rows, where="Mesh")
    assert count == 3 and out["in_id"].tolist() == [3, 11, 19]
    with pytest.raises(ValueError, match=r"Mesh: values of shape \(3, 7\) are not records"):
        record_count(np.zeros((3, 7)), MIXED.dtype, where="Mesh")
    with pytest.raises(TypeError, match=r"Mesh: values of float64 would be truncated"):
        copy_records(out, np.zeros((3, 8)), where="Mesh")


def test_write_records_is_exported() -> None:
    assert "write_records" in sb.__all__ and sb.write_records.__module__ == "stagebuf._pack"


def test_pack_bench_rows_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from stagebuf.bench._pack_bench import run_pack_rows

    rows = run_pack_rows(True, vertices=50, formats=("f", "3f", "16f"))
    assert [r.format for r in rows] == ["f", "3f", "16f"]
    assert all(r.vs_slice > 0 and r.vs_field > 0 for r in rows)
    assert [r.goal for r in rows] == [3.0, 3.0, 1.0]
    out = capsys.readouterr().out
    assert "write_attribute vs numpy field assignment, 50 interleaved vertices" in out
    assert " 3f " in out and ("met" in out or "MISSED" in out)


def test_records_check_wide_integers_column_by_column() -> None:
    layout = sb.VertexLayout(in_id="3i", in_pos="2f")
    values = np.zeros((4, 5), np.uint64)
    values[:, :3] = 2**31 - 1  # the largest int32 fits
    dst = garbage(4, layout.dtype)
    sb.write_records(dst, values)
    assert dst["in_id"].tolist() == [[2**31 - 1] * 3] * 4 and not dst["in_pos"].any()
    values[2, 1] = 2**63
    with pytest.raises(
        ValueError, match=r"value 9223372036854775808 does not fit attribute 'in_id' of int32"
    ):
        sb.write_records(dst, values)


def test_records_of_bools_and_small_ints_need_no_range_check() -> None:
    layout = sb.VertexLayout(in_color="4u1", in_flags="2u2")
    dst = np.zeros(2, layout.dtype)
    sb.write_records(dst, np.ones((2, 6), bool))
    assert dst["in_color"].tolist() == [[1] * 4] * 2 and dst["in_flags"].tolist() == [[1] * 2] * 2


def test_zero_records_of_an_all_float_layout() -> None:
    layout = sb.VertexLayout(in_pos="3f", in_uv="2f")
    for empty in ([], np.zeros((0, 5), np.float32), np.zeros((0, 7), np.float32)):
        sb.write_records(np.zeros(0, layout.dtype), empty)


def test_records_bench_rows_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from stagebuf.bench._pack_bench import run_records_rows

    rows = run_records_rows(True, vertices=20)
    assert len(rows) == 4 and all(r.ratio > 0 and r.seconds > 0 for r in rows)
    out = capsys.readouterr().out
    assert "write_records vs numpy by hand, 20 records" in out
    assert "verts.view(np.float32).reshape(-1, 5)[:] = values" in out


def test_float64_numbers_into_a_mixed_layout_are_checked_not_copied_as_bytes() -> None:
    """numpy takes ``dtype == None`` for float64: float64 rows must not take the
    whole-record path of an all-float32 layout when the layout is mixed."""
    layout = sb.VertexLayout(in_pos="2f", in_color="4f1")
    verts = np.zeros(2, layout.dtype)
    rows = np.array([[1, -1, 255, 0, 10, 255], [-1, 1, 1, 2, 3, 4]], np.float64)
    with pytest.raises(TypeError, match=r"in_color"):
        sb.write_records(verts, rows)
    assert not verts.tobytes().strip(b"\0")  # nothing written
    sb.write_records(verts, rows.astype(np.int64))
    assert verts["in_color"].tolist() == [[255, 0, 10, 255], [1, 2, 3, 4]]
    assert verts["in_pos"].tolist() == [[1, -1], [-1, 1]]
