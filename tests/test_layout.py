"""VertexLayout: numpy dtype <-> moderngl format, padding, usage, errors, program matching.

Most tests are pure CPU. The ``gl``-marked ones at the end prove the formats are
valid for real moderngl on a standalone EGL context: values written through
``layout.dtype`` reach the shader intact (read back by transform feedback and
from pixels), and formats moderngl rejects are rejected here too.
"""

from __future__ import annotations

import copy
import os
import pickle
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stagebuf._errors import LayoutMismatchError
from stagebuf._layout import VertexAttribute, VertexLayout

# -- tokens -> numpy ---------------------------------------------------------------

# token, components, numpy scalar type, normalised, canonical token
TOKENS = [
    ("f", 1, np.float32, False, "1f"),
    ("1f", 1, np.float32, False, "1f"),
    ("f4", 1, np.float32, False, "1f"),
    ("2f", 2, np.float32, False, "2f"),
    ("3f4", 3, np.float32, False, "3f"),
    ("3f2", 3, np.float16, False, "3f2"),
    ("2f8", 2, np.float64, False, "2f8"),
    ("f1", 1, np.uint8, True, "1f1"),
    ("4f1", 4, np.uint8, True, "4f1"),
    ("i", 1, np.int32, False, "1i"),
    ("2i1", 2, np.int8, False, "2i1"),
    ("3i2", 3, np.int16, False, "3i2"),
    ("4i4", 4, np.int32, False, "4i"),
    ("u", 1, np.uint32, False, "1u"),
    ("4u1", 4, np.uint8, False, "4u1"),
    ("2u2", 2, np.uint16, False, "2u2"),
    ("3u4", 3, np.uint32, False, "3u"),
    ("16f", 16, np.float32, False, "16f"),
    ("9f", 9, np.float32, False, "9f"),
    ("6f2", 6, np.float16, False, "6f2"),
    ("8f8", 8, np.float64, False, "8f8"),
    ("12f1", 12, np.uint8, True, "12f1"),
]


@pytest.mark.parametrize(("token", "n", "scalar", "normalized", "canonical"), TOKENS)
def test_token_maps_to_numpy(
    token: str, n: int, scalar: type, normalized: bool, canonical: str
) -> None:
    layout = VertexLayout(a=token)
    field = layout.dtype.fields["a"][0]  # type: ignore[index]
    if n == 1:
        assert field == np.dtype(scalar)
        assert field.shape == ()
    else:
        assert field.base == np.dtype(scalar)
        assert field.shape == (n,)
    assert layout.stride == layout.dtype.itemsize == n * np.dtype(scalar).itemsize
    assert layout.format == canonical
    assert layout.names == ("a",)
    info = layout.attribute("a")
    assert (info.components, info.normalized, info.token, info.offset) == (
        n,
        normalized,
        canonical,
        0,
    )
    assert info.dtype == field
    assert info.scalar_dtype == np.dtype(scalar)
    assert info.nbytes == layout.stride
    norm = ["a"] if normalized else []
    assert VertexLayout.from_dtype(layout.dtype, normalized=norm) == layout


def test_design_example() -> None:
    layout = VertexLayout(in_pos="2f", in_color="4f1")
    assert layout.dtype == np.dtype([("in_pos", np.float32, (2,)), ("in_color", np.uint8, (4,))])
    assert layout.format == "2f 4f1"
    assert layout.names == ("in_pos", "in_color")
    assert layout.stride == 12
    assert layout.usage == "v"
    assert repr(layout) == "VertexLayout(in_pos='2f', in_color='4f1')"


def test_all_tokens_in_one_layout_have_packed_offsets() -> None:
    # Ordered by decreasing component size so every attribute is aligned without padding.
    layout = VertexLayout.from_format(
        "2f8 3f 2i 1u 2f2 1i2 3u2 4f1 1i1 3u1 4x", *[f"a{i}" for i in range(10)]
    )
    offsets = [0, 16, 28, 36, 40, 44, 46, 52, 56, 57]
    assert [a.offset for a in layout.attributes] == offsets
    assert [layout.dtype.fields[n][1] for n in layout.names] == offsets  # type: ignore[index]
    assert layout.stride == layout.dtype.itemsize == 64  # 60 bytes, padded to the 8-byte double
    assert layout.format == "2f8 3f 2i 1u 2f2 1i2 3u2 4f1 1i1 3u1 4x"


def test_dtype_is_packed_and_usable_as_array() -> None:
    layout = VertexLayout(in_pos="2f", in_color="4f1 4x", in_id="1u")
    verts = np.zeros(3, layout.dtype)
    verts["in_pos"] = [[1, 2], [3, 4], [5, 6]]
    verts["in_color"] = 255
    verts["in_id"] = [7, 8, 9]
    assert verts.tobytes()[:8] == np.array([1, 2], np.float32).tobytes()
    assert len(verts.tobytes()) == 3 * layout.stride == 3 * 20
    # the padding bytes are left alone (zero here) and belong to no field
    raw = np.frombuffer(verts.tobytes(), np.uint8).reshape(3, 20)
    assert (raw[:, 12:16] == 0).all()


# -- padding -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pad", "nbytes"),
    [("x", 1), ("4x", 4), ("x4", 4), ("2x2", 4), ("x8", 8), ("2x4", 8), ("3x", 3), ("1x1", 1)],
)
def test_padding_syntax(pad: str, nbytes: int) -> None:
    layout = VertexLayout(in_color=f"4f1 {pad}")
    assert layout.stride == layout.dtype.itemsize == 4 + nbytes
    assert layout.format == f"4f1 {nbytes}x"
    assert layout.names == ("in_color",)
    assert layout.dtype.names == ("in_color",)


def test_padding_between_attributes_is_an_offset_gap() -> None:
    layout = VertexLayout(in_pos="2f 4x", in_color="4f1")
    assert layout.format == "2f 4x 4f1"
    assert layout.names == ("in_pos", "in_color")
    assert layout.stride == 16
    assert layout.dtype.fields["in_color"][1] == 12  # type: ignore[index]
    assert layout.dtype == np.dtype(
        {
            "names": ["in_pos", "in_color"],
            "formats": [(np.float32, (2,)), (np.uint8, (4,))],
            "offsets": [0, 12],
            "itemsize": 16,
        }
    )


def test_leading_trailing_and_adjacent_padding_is_canonical() -> None:
    layout = VertexLayout(a="x4 2f x2 x2", b="1f 8x")
    assert layout.format == "4x 2f 4x 1f 8x"
    assert [a.offset for a in layout.attributes] == [4, 16]
    assert layout.stride == 28
    assert repr(layout) == "VertexLayout(a='4x 2f 4x', b='1f 8x')"
    # The same bytes written other ways are the same layout.
    assert layout == VertexLayout(a="4x 2f", b="2x 2x 1f 8x")
    assert layout == VertexLayout.from_format("4x 2f 4x 1f 2x4", "a", "b")
    assert hash(layout) == hash(VertexLayout(a="4x 2f", b="4x 1f 8x"))


def test_from_format_equals_keyword_form() -> None:
    a = VertexLayout.from_format("2f 4x 4f1", "in_pos", "in_color")
    b = VertexLayout(in_pos="2f 4x", in_color="4f1")
    assert a == b
    assert a.format == "2f 4x 4f1"
    assert VertexLayout.from_format("  1f4   x4\t4f1 ", "p", "c").format == "1f 4x 4f1"


# -- usage (/v, /i, /r) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "usage"), [("", "v"), ("/v", "v"), ("/i", "i"), (" /i", "i"), ("/r", "r")]
)
def test_usage_suffix_in_from_format(suffix: str, usage: str) -> None:
    layout = VertexLayout.from_format(f"2f 1f{suffix}", "in_offset", "in_scale")
    assert layout.usage == usage
    assert layout.format == "2f 1f" + ("" if usage == "v" else f"/{usage}")


def test_usage_suffix_in_keyword_form() -> None:
    layout = VertexLayout(in_offset="2f/i", in_scale="1f 4x/i")
    assert layout.usage == "i"
    assert layout.format == "2f 1f 4x/i"
    assert repr(layout) == "VertexLayout(in_offset='2f/i', in_scale='1f 4x/i')"
    assert layout != VertexLayout(in_offset="2f", in_scale="1f 4x")
    assert layout == VertexLayout(in_offset="2f", in_scale="1f 4x").with_usage("i")
    assert layout.with_usage("i") is layout
    assert layout.with_usage("v").usage == "v"


def test_mixing_per_vertex_and_per_instance_raises() -> None:
    with pytest.raises(
        ValueError, match=r"one usage for the whole buffer.*in_pos /v, in_offset /i"
    ):
        VertexLayout(in_pos="2f", in_offset="2f/i")
    with pytest.raises(ValueError, match=r"mix them \(a /i, b /r"):
        VertexLayout(a="2f/i", b="2f/r")


@pytest.mark.parametrize("fmt", ["2f/x", "2f/I", "2f/i 1f", "2f/i/v", "2f/"])
def test_bad_usage_suffix(fmt: str) -> None:
    with pytest.raises(ValueError, match=r"Invalid usage suffix '/.*' in format"):
        VertexLayout.from_format(fmt, *["a", "b"][: fmt.count("f")])


def test_bad_usage_argument() -> None:
    with pytest.raises(ValueError, match=r"usage must be 'v', 'i' or 'r', got 'x'"):
        VertexLayout(a="2f").with_usage("x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"usage must be 'v', 'i' or 'r', got 'instance'"):
        VertexLayout.from_dtype([("a", "f4")], usage="instance")  # type: ignore[arg-type]


# -- from_dtype ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numpy_type", "token"),
    [
        (np.float32, "f"),
        (np.float16, "f2"),
        (np.float64, "f8"),
        (np.int8, "i1"),
        (np.int16, "i2"),
        (np.int32, "i"),
        (np.uint8, "u1"),
        (np.uint16, "u2"),
        (np.uint32, "u"),
    ],
)
def test_from_dtype_maps_numpy_types(numpy_type: type, token: str) -> None:
    scalar = VertexLayout.from_dtype([("a", numpy_type)])
    assert scalar.format == f"1{token}"
    vec = VertexLayout.from_dtype([("a", numpy_type, (4,))])
    assert vec.format == f"4{token}"
    assert vec.dtype == np.dtype([("a", numpy_type, (4,))])


def test_from_dtype_normalized_bytes_become_f1() -> None:
    dt = np.dtype([("in_pos", "f4", 2), ("in_color", "u1", 4), ("in_flags", "u1", 4)])
    layout = VertexLayout.from_dtype(dt, normalized=["in_color"])
    assert layout.format == "2f 4f1 4u1"
    assert layout.attribute("in_color").normalized
    assert not layout.attribute("in_flags").normalized
    assert layout.dtype == dt
    assert layout == VertexLayout(in_pos="2f", in_color="4f1", in_flags="4u1")


def test_from_dtype_gaps_become_padding() -> None:
    dt = np.dtype(
        {
            "names": ["pos", "col"],
            "formats": [("f4", 2), ("u1", 4)],
            "offsets": [4, 16],
            "itemsize": 24,
        }
    )
    layout = VertexLayout.from_dtype(dt, normalized=("col",))
    assert layout.format == "4x 2f 4x 4f1 4x"
    assert layout.dtype == dt


def test_from_dtype_aligned_struct() -> None:
    dt = np.dtype([("col", "u1", 3), ("pos", "f4", 3), ("w", "f8")], align=True)
    layout = VertexLayout.from_dtype(dt)
    assert layout.format == "3u1 1x 3f 1f8"
    assert layout.stride == dt.itemsize == 24


def test_from_dtype_orders_fields_by_offset() -> None:
    dt = np.dtype({"names": ["b", "a"], "formats": ["f4", "f4"], "offsets": [4, 0]})
    layout = VertexLayout.from_dtype(dt)
    assert layout.names == ("a", "b")
    assert layout.format == "1f 1f"


def test_from_dtype_shapes() -> None:
    assert VertexLayout.from_dtype([("a", "f4", (1,))]).format == "1f"
    assert VertexLayout.from_dtype([("a", "f4", (1,))]).dtype.fields["a"][0].shape == ()  # type: ignore[index]
    mat = VertexLayout.from_dtype([("m", "f4", (4, 4))])
    assert mat.format == "16f"
    assert mat.dtype == np.dtype([("m", "f4", (16,))])  # flattened, column after column
    assert VertexLayout.from_dtype([("m", "f8", (2, 3))]).format == "6f8"
    assert VertexLayout.from_dtype([("m", "f4", (9,))]).format == "9f"


def test_from_dtype_usage() -> None:
    layout = VertexLayout.from_dtype([("in_offset", "f4", 2)], usage="i")
    assert layout.format == "2f/i"


UNSUPPORTED_FIELDS = [
    ("i8", r"unsupported dtype int64"),
    ("u8", r"unsupported dtype uint64"),
    ("c8", r"unsupported dtype complex64"),
    ("O", r"unsupported dtype object"),
    ("?", r"unsupported dtype bool"),
    ("U4", r"unsupported dtype <U4"),
    ("V4", r"unsupported dtype \|V4"),
    ("M8[s]", r"unsupported dtype datetime64\[s\]"),
    (">f4", r"non-native byte order \(>f4\)"),
    ([("x", "f4"), ("y", "f4")], r"nested structure"),
    (("i4", (2, 2)), r"unsupported shape \(2, 2\)"),
    (("f4", (2, 5)), r"unsupported shape \(2, 5\)"),
    (("f4", (2, 2, 2)), r"unsupported shape \(2, 2, 2\)"),
]


@pytest.mark.parametrize(("field", "match"), UNSUPPORTED_FIELDS)
def test_from_dtype_unsupported_field_raises_type_error(field: Any, match: str) -> None:
    dt = np.dtype([("in_pos", "f4", 2), ("bad_field", field)])
    with pytest.raises(
        TypeError, match=rf"Field 'bad_field' .*{match}.*supported field dtypes are"
    ):
        VertexLayout.from_dtype(dt)


@pytest.mark.parametrize(
    ("field", "token", "match"),
    [
        (("f4", (5,)), "5f", r"float attribute has 1 to 4, or a matrix size: 6, 8, 9"),
        (("i4", (16,)), "16i", r"integer attribute has 1 to 4 \(GLSL has no integer"),
        (("u1", (6,)), "6u1", r"integer attribute has 1 to 4 \(GLSL has no integer"),
        (("f4", (0,)), "0f", r"give 1 to 4"),
    ],
)
def test_one_component_count_rule_for_tokens_and_fields(field: Any, token: str, match: str) -> None:
    # "5f" and ("f4", 5) break the same rule: the same error type and reason.
    with pytest.raises(ValueError, match=match):
        VertexLayout(a=token)
    with pytest.raises(ValueError, match=rf"Field 'a' has \d+ components .*{match}"):
        VertexLayout.from_dtype(np.dtype([("a", *field)]))


def test_from_dtype_lists_supported_types() -> None:
    with pytest.raises(TypeError, match=r"float16, float32, float64, int8, int16, int32, uint8"):
        VertexLayout.from_dtype([("a", "i8")])


def test_from_dtype_not_structured() -> None:
    with pytest.raises(TypeError, match=r"needs a structured dtype with named fields, got float32"):
        VertexLayout.from_dtype(np.float32)


def test_from_dtype_overlapping_fields() -> None:
    dt = np.dtype({"names": ["a", "b"], "formats": [("f4", 2), "f4"], "offsets": [0, 4]})
    with pytest.raises(ValueError, match=r"Fields 'a' and 'b' overlap \(offset 4 < 8\)"):
        VertexLayout.from_dtype(dt)


def test_from_dtype_misaligned_field() -> None:
    dt = np.dtype([("col", "u1", 3), ("pos", "f4", 2)])  # packed: pos at byte 3
    with pytest.raises(ValueError, match=r"Attribute 'pos' \(2f\) starts at byte 3.*Add '1x'"):
        VertexLayout.from_dtype(dt)


def test_from_dtype_bad_normalized() -> None:
    dt = np.dtype([("pos", "f4", 2), ("col", "u1", 4), ("idx", "u2")])
    with pytest.raises(
        ValueError, match=r"normalized names 'colour', which the dtype does not have"
    ):
        VertexLayout.from_dtype(dt, normalized=["colour"])
    with pytest.raises(ValueError, match=r"Field 'pos' is float32, but only uint8 fields can be"):
        VertexLayout.from_dtype(dt, normalized=["pos"])
    with pytest.raises(ValueError, match=r"Field 'idx' is uint16, but only uint8"):
        VertexLayout.from_dtype(dt, normalized=["idx"])
    with pytest.raises(TypeError, match=r"normalized takes a collection of field names"):
        VertexLayout.from_dtype(dt, normalized="col")


def test_from_dtype_bad_field_name() -> None:
    with pytest.raises(ValueError, match=r"'in pos' is not a GLSL identifier"):
        VertexLayout.from_dtype([("in pos", "f4", 2)])


# -- format errors -------------------------------------------------------------------

BAD_TOKENS = [
    # value given, the token named in the message, what the message explains
    ("4nu1", "4nu1", r"no 'n' \(normalised\) prefix; use 'f1'"),
    ("2d", "2d", r"doubles as 'f8'"),
    ("4F", "4F", r"lower case"),
    ("4i8", "4i8", r"'i' comes in 1, 2, 4 bytes, not 8"),
    ("4u8", "4u8", r"'u' comes in 1, 2, 4 bytes, not 8"),
    ("4f3", "4f3", r"'f' comes in 1, 2, 4, 8 bytes, not 3"),
    ("2f2x", "2f2x", r"valid tokens are"),
    ("vec2", "vec2", r"valid tokens are"),
    ("2 f", "2", r"valid tokens are"),
    ("2f,", "2f,", r"valid tokens are"),
    ("-1f", "-1f", r"valid tokens are"),
]


@pytest.mark.parametrize(("value", "token", "match"), BAD_TOKENS)
def test_bad_token_names_token_and_attribute(value: str, token: str, match: str) -> None:
    with pytest.raises(ValueError, match=r"Invalid vertex format token") as info:
        VertexLayout(in_pos="2f", in_color=value)
    message = str(info.value)
    assert f"token '{token}' in attribute 'in_color'" in message
    assert re.search(match, message)
    assert "valid tokens are f, f1, f2, f4, f8, i, i1, i2, i4, u, u1, u2, u4" in message


def test_bad_token_in_from_format_names_the_attribute() -> None:
    with pytest.raises(
        ValueError, match=r"token '4nu1' in format '2f 4nu1' \(attribute 'in_color'\)"
    ):
        VertexLayout.from_format("2f 4nu1", "in_pos", "in_color")


@pytest.mark.parametrize(("pad", "match"), [("x3", "not 3"), ("x16", "not 16"), ("4x5", "not 5")])
def test_bad_padding_unit(pad: str, match: str) -> None:
    with pytest.raises(
        ValueError, match=rf"token '{pad}' .*padding units are 1, 2, 4 or 8 bytes, {match}"
    ):
        VertexLayout.from_format(f"2f {pad}", "a")


def test_zero_padding() -> None:
    with pytest.raises(
        ValueError, match=r"Padding token '0x' in attribute 'a' .* is zero bytes long"
    ):
        VertexLayout(a="2f 0x")


@pytest.mark.parametrize("token", ["0f", "0i", "00u2"])
def test_zero_components(token: str) -> None:
    with pytest.raises(ValueError, match=rf"Attribute 'a' \('{token}'\) has zero components"):
        VertexLayout(a=token)


@pytest.mark.parametrize("token", ["5f", "7f", "10f", "17f", "32f2"])
def test_too_many_float_components(token: str) -> None:
    with pytest.raises(ValueError, match=r"float attribute has 1 to 4, or a matrix size: 6, 8, 9"):
        VertexLayout(a=token)


@pytest.mark.parametrize("token", ["5i", "16i", "9u1", "6u2"])
def test_too_many_integer_components(token: str) -> None:
    with pytest.raises(ValueError, match=r"integer attribute has 1 to 4 \(GLSL has no integer"):
        VertexLayout(a=token)


def test_keyword_value_needs_exactly_one_type_token() -> None:
    with pytest.raises(ValueError, match=r"Attribute 'a' \('4x'\) has no type token"):
        VertexLayout(a="4x")
    with pytest.raises(ValueError, match=r"Attribute 'a' \(''\) has no type token"):
        VertexLayout(a="")
    with pytest.raises(
        ValueError, match=r"Attribute 'a' \('2f 4f1'\) has 2 type tokens.*from_format"
    ):
        VertexLayout(a="2f 4f1")


def test_keyword_value_must_be_a_string() -> None:
    with pytest.raises(TypeError, match=r"Attribute 'in_pos' must be given as a moderngl format"):
        VertexLayout(in_pos=2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"The format must be a moderngl format string, got 2"):
        VertexLayout.from_format(2, "a")  # type: ignore[arg-type]


def test_empty_layouts() -> None:
    with pytest.raises(ValueError, match=r"needs at least one attribute"):
        VertexLayout()
    with pytest.raises(ValueError, match=r"Format '4x' has no attribute"):
        VertexLayout.from_format("4x")
    with pytest.raises(ValueError, match=r"Format '' has no attribute"):
        VertexLayout.from_format("")


def test_from_format_name_count_mismatch() -> None:
    with pytest.raises(
        ValueError, match=r"has 2 attribute token\(s\) but 1 name\(s\) were given \('a'\)"
    ):
        VertexLayout.from_format("2f 4x 4f1", "a")
    with pytest.raises(ValueError, match=r"has 1 attribute token\(s\) but 2 name\(s\)"):
        VertexLayout.from_format("2f 4x", "a", "b")
    with pytest.raises(
        ValueError, match=r"1 attribute token\(s\) but 0 name\(s\) were given \(none\)"
    ):
        VertexLayout.from_format("2f")


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("1pos", "not a GLSL identifier"),
        ("in-pos", "not a GLSL identifier"),
        ("pós", "not a GLSL identifier"),
        ("", "not a GLSL identifier"),
        ("gl_Position", "'gl_' prefix GLSL reserves"),
    ],
)
def test_bad_attribute_names(name: str, match: str) -> None:
    with pytest.raises(ValueError, match=rf"Attribute name '{name}' .*{match}"):
        VertexLayout(**{name: "2f"})
    with pytest.raises(ValueError, match=rf"Attribute name '{name}' .*{match}"):
        VertexLayout.from_format("2f", name)


def test_duplicate_attribute_names() -> None:
    with pytest.raises(ValueError, match=r"Attribute name 'a' appears twice"):
        VertexLayout.from_format("2f 2f", "a", "a")


def test_non_string_name() -> None:
    with pytest.raises(TypeError, match=r"Attribute names must be strings, got 3"):
        VertexLayout.from_format("2f", 3)  # type: ignore[arg-type]


def test_misaligned_attribute_and_stride() -> None:
    with pytest.raises(
        ValueError, match=r"'b' \(2f\) starts at byte 3, not a multiple of its 4-byte"
    ):
        VertexLayout(a="3f1", b="2f")
    assert VertexLayout(a="3f1 1x", b="2f").stride == 12
    with pytest.raises(
        ValueError, match=r"stride \(11 bytes\) is not a multiple of 4.*'a' \(2f\).*'1x'"
    ):
        VertexLayout(a="2f", b="3f1")
    with pytest.raises(ValueError, match=r"stride \(20 bytes\) is not a multiple of 8.*Add '4x'"):
        VertexLayout(a="2f8", b="1f")


# -- value semantics ------------------------------------------------------------------


def test_immutable() -> None:
    layout = VertexLayout(in_pos="2f")
    with pytest.raises(AttributeError, match=r"VertexLayout is immutable; cannot set 'stride'"):
        layout.stride = 4  # type: ignore[misc]
    with pytest.raises(AttributeError, match=r"VertexLayout is immutable; cannot set '_stride'"):
        layout._stride = 4
    with pytest.raises(AttributeError, match=r"VertexLayout is immutable; cannot delete '_stride'"):
        del layout._stride
    with pytest.raises(AttributeError):
        layout.attribute("in_pos").offset = 3  # type: ignore[misc]
    assert layout.stride == 8


def test_equality_and_hash() -> None:
    a = VertexLayout(in_pos="2f", in_color="4f1")
    b = VertexLayout.from_format("2f 4f1", "in_pos", "in_color")
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a != VertexLayout(in_pos="2f", in_color="4u1")  # same bytes, other GL type
    assert a != VertexLayout(in_pos="2f", colour="4f1")
    assert a != VertexLayout(in_color="4f1", in_pos="2f")  # order is part of the layout
    assert a != VertexLayout(in_pos="2f", in_color="4f1 4x")
    assert a != "2f 4f1"
    assert a.__eq__("2f 4f1") is NotImplemented


def test_pickle_and_copy() -> None:
    layout = VertexLayout(in_pos="4x 2f 4x/i", in_color="4f1/i")
    assert pickle.loads(pickle.dumps(layout)) == layout
    assert copy.copy(layout) == layout
    assert copy.deepcopy(layout) == layout


@pytest.mark.parametrize(
    "layout",
    [
        VertexLayout(in_pos="2f", in_color="4f1"),
        VertexLayout(a="8x 2f8/r", b="1i2 6x/r"),
        VertexLayout.from_format("16f 2u2/i", "m", "id"),
    ],
)
def test_repr_round_trips(layout: VertexLayout) -> None:
    assert eval(repr(layout), {"VertexLayout": VertexLayout}) == layout


def test_repr_with_python_keyword_name() -> None:
    layout = VertexLayout(**{"pass": "2f", "in_color": "4f1"})
    assert repr(layout) == "VertexLayout(**{'pass': '2f', 'in_color': '4f1'})"
    assert eval(repr(layout), {"VertexLayout": VertexLayout}) == layout


def test_attribute_info() -> None:
    layout = VertexLayout(in_pos="2f 4x", in_color="4f1", in_id="1u2 2x")
    info = layout.attribute("in_color")
    assert info == VertexAttribute("in_color", 12, 4, "f", 1)
    assert (info.name, info.offset, info.components, info.token) == ("in_color", 12, 4, "4f1")
    assert info.normalized
    assert info.dtype == np.dtype((np.uint8, (4,)))
    assert layout.attribute("in_id").dtype == np.dtype(np.uint16)
    assert layout.attributes == tuple(layout.attribute(n) for n in layout.names)
    with pytest.raises(
        KeyError, match=r"no attribute 'in_normal'; it has 'in_pos', 'in_color', 'in_id'"
    ):
        layout.attribute("in_normal")


# -- checking a program's attributes ----------------------------------------------------


def test_check_attributes_all_used() -> None:
    layout = VertexLayout(in_pos="2f", in_color="4f1")
    assert layout.check_attributes({"in_pos": ("f", 2), "in_color": ("f", 4)}) == ()


def test_check_attributes_returns_unused_in_buffer_order() -> None:
    layout = VertexLayout(in_pos="2f", in_uv="2f", in_color="4f1", in_id="1u")
    assert layout.check_attributes({"in_color": ("f", 4)}) == ("in_pos", "in_uv", "in_id")
    assert layout.check_attributes({}) == layout.names


@pytest.mark.parametrize(
    ("token", "kind", "dim"),
    [
        ("2f", "f", 4),  # fewer: GL fills z=0, w=1
        ("4f", "f", 2),  # more: GL ignores the extra components
        ("1f", "f", 1),
        ("3f2", "f", 3),
        ("2f8", "f", 2),  # doubles converted to float by glVertexAttribPointer
        ("4f1", "f", 4),
        ("3f1", "f", 4),
        ("2i", "i", 2),
        ("2i1", "i", 4),
        ("2u1", "i", 2),  # small unsigned values fit a signed int
        ("2u2", "i", 2),
        ("1u", "u", 1),
        ("4u1", "u", 4),
        ("2f8", "d", 2),
        ("4f8", "d", 3),
        ("16f", "f", 16),
        ("9f", "f", 9),
        ("16f8", "d", 16),
    ],
)
def test_check_attributes_compatible(token: str, kind: str, dim: int) -> None:
    assert VertexLayout(a=token).check_attributes({"a": (kind, dim)}) == ()


@pytest.mark.parametrize(
    ("token", "kind", "dim", "match"),
    [
        (
            "4u1",
            "f",
            4,
            r"reads vec4 but the layout feeds integers '4u1' .*use '4f1'"
            r".*or declare the attribute uvec4",
        ),
        (
            "1i",
            "f",
            1,
            r"reads float but the layout feeds integers '1i' .*declare the attribute int\.",
        ),
        ("2i2", "f", 2, r"reads vec2 but the layout feeds integers '2i2' \(2 signed shorts\)"),
        (
            "4f1",
            "i",
            4,
            r"reads ivec4 but the layout feeds floats '4f1' \(4 normalised unsigned bytes\), "
            r"and 'f1' is a normalised float",
        ),
        (
            "2f",
            "i",
            2,
            r"reads ivec2 but the layout feeds floats '2f' \(2 floats\); "
            r"use an integer format such as '2i'",
        ),
        ("1f", "u", 1, r"reads uint but the layout feeds floats"),
        (
            "2i",
            "u",
            2,
            r"reads uvec2 \(unsigned\) but the layout feeds signed integers '2i'.*use '2u'",
        ),
        ("2u", "i", 2, r"reads ivec2 \(signed\) but the layout feeds '2u' .*would wrap"),
        (
            "2f",
            "d",
            2,
            r"reads dvec2 but the layout feeds '2f' \(2 floats\); "
            r"a double attribute only takes 64-bit floats, use '2f8'",
        ),
        ("2f8", "d", 3, r"reads dvec3 but the layout feeds only 2 components"),
        (
            "4f",
            "f",
            16,
            r"reads 16 floats \(matrix or array\) but the layout feeds 4 components; "
            r".*needs exactly 16",
        ),
        ("16f", "f", 4, r"reads vec4 but the layout feeds 16 components \(a matrix\)"),
        ("9f", "f", 12, r"reads 12 floats .* feeds 9 components; .*needs exactly 12"),
    ],
)
def test_check_attributes_mismatch(token: str, kind: str, dim: int, match: str) -> None:
    with pytest.raises(LayoutMismatchError, match=rf"  a: the program {match}"):
        VertexLayout(a=token).check_attributes({"a": (kind, dim)})


def test_check_attributes_message_lists_both_sides() -> None:
    layout = VertexLayout(in_pos="2f", in_color="4u1", in_uv="2f")
    required = {"in_pos": ("f", 2), "in_color": ("f", 4), "in_normal": ("f", 3)}
    with pytest.raises(LayoutMismatchError) as info:
        layout.check_attributes(required)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "program attributes: in_pos (vec2), in_color (vec4), in_normal (vec3)" in message
    assert "layout attributes:  in_pos '2f', in_color '4u1', in_uv '2f'" in message
    assert "in_color: the program reads vec4 but the layout feeds integers '4u1'" in message
    assert (
        "in_normal: the program reads it (vec3) but the layout has no attribute of that name."
        in message
    )
    assert "  in_pos:" not in message  # only the bad ones are explained


@pytest.mark.parametrize(
    "spec", [("f",), ("x", 2), ("f", 0), ("f", "2"), ("I", 2), ("f", True), ("f", 2, 1), "vec2"]
)
def test_check_attributes_malformed_required(spec: Any) -> None:
    with pytest.raises(ValueError, match=r"Program attribute 'a' must map to \(kind, components\)"):
        VertexLayout(a="2f").check_attributes({"a": spec})


def test_check_attributes_non_string_name() -> None:
    with pytest.raises(ValueError, match=r"Program attribute names must be strings, got 0"):
        VertexLayout(a="2f").check_attributes({0: ("f", 2)})  # type: ignore[dict-item]


def test_format_for_turns_unused_attributes_into_padding() -> None:
    layout = VertexLayout(in_pos="2f", in_uv="2f", in_color="4f1", in_id="1u")
    assert layout.format_for(["in_color", "in_pos"]) == ("2f 8x 4f1 4x", ("in_pos", "in_color"))
    assert layout.format_for(layout.names) == (layout.format, layout.names)
    assert layout.format_for({"in_id": ("u", 1), "not_in_layout": ("f", 1)}) == (
        "20x 1u",
        ("in_id",),
    )
    assert layout.format_for([]) == ("24x", ())


def test_format_for_keeps_usage_and_padding() -> None:
    layout = VertexLayout(in_offset="4x 2f 4x/i", in_scale="1f/i")
    fmt, names = layout.format_for(["in_scale"])
    assert (fmt, names) == ("16x 1f/i", ("in_scale",))
    assert VertexLayout.from_format(fmt, *names).stride == layout.stride


# -- property: random layouts round-trip -------------------------------------------------

_TYPE_TOKENS = [
    ("f", 4),
    ("f", 2),
    ("f", 8),
    ("f", 1),
    ("i", 1),
    ("i", 2),
    ("i", 4),
    ("u", 1),
    ("u", 2),
    ("u", 4),
]


@st.composite
def _layouts(draw: st.DrawFn) -> tuple[str, list[str], list[int], int]:
    """A random valid format: aligned attributes with random padding; also the expected offsets."""
    n = draw(st.integers(1, 6))
    parts: list[str] = []
    offsets: list[int] = []
    pos = 0
    widest = 1
    for _ in range(n):
        kind, size = draw(st.sampled_from(_TYPE_TOKENS))
        counts = [1, 2, 3, 4] + ([6, 8, 9, 12, 16] if kind == "f" else [])
        count = draw(st.sampled_from(counts))
        pad = draw(st.integers(0, 9))
        pad += -(pos + pad) % size  # round the offset up to the component size
        if pad:
            parts.append(draw(st.sampled_from([f"{pad}x", f"{pad}x1"])))
        pos += pad
        offsets.append(pos)
        size_text = draw(st.sampled_from(["", "4"])) if size == 4 else str(size)
        count_text = draw(st.sampled_from(["", "1"])) if count == 1 else str(count)
        parts.append(f"{count_text}{kind}{size_text}")
        pos += count * size
        widest = max(widest, size)
    tail = draw(st.integers(0, 8))
    tail += -(pos + tail) % widest
    if tail:
        parts.append(f"{tail}x")
    usage = draw(st.sampled_from(["", "/v", "/i", "/r"]))
    return " ".join(parts) + usage, [f"a{i}" for i in range(n)], offsets, pos + tail


@settings(max_examples=300, deadline=None)
@given(_layouts())
def test_random_layouts_round_trip(case: tuple[str, list[str], list[int], int]) -> None:
    fmt, names, offsets, stride = case
    layout = VertexLayout.from_format(fmt, *names)
    assert layout.names == tuple(names)
    assert layout.stride == layout.dtype.itemsize == stride
    assert [a.offset for a in layout.attributes] == offsets
    assert [layout.dtype.fields[n][1] for n in names] == offsets  # type: ignore[index]
    assert VertexLayout.from_format(layout.format, *layout.names) == layout
    normalized = [a.name for a in layout.attributes if a.normalized]
    assert (
        VertexLayout.from_dtype(layout.dtype, normalized=normalized, usage=layout.usage) == layout
    )
    assert eval(repr(layout), {"VertexLayout": VertexLayout}) == layout
    assert len(np.zeros(3, layout.dtype).tobytes()) == 3 * stride
    fmt_none, names_none = layout.format_for(())
    assert names_none == ()
    assert fmt_none == f"{stride}x" + ("" if layout.usage == "v" else f"/{layout.usage}")


# -- real moderngl ---------------------------------------------------------------------------

_GL_KIND = {
    0x1406: "f",
    0x1404: "i",
    0x1405: "u",
    0x140A: "d",
}  # GL_FLOAT, INT, UNSIGNED_INT, DOUBLE


@pytest.fixture(scope="module")
def gl_context() -> Iterator[tuple[Any, Any]]:
    """One standalone EGL context for this module and a 1x1 framebuffer to draw into.

    A surfaceless context has no complete default framebuffer, and drawing
    (transform feedback included) needs one.
    """
    import moderngl

    try:
        ctx = moderngl.create_context(standalone=True, backend="egl")  # type: ignore[arg-type]
    except Exception as err:  # pragma: no cover - depends on the machine
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no standalone EGL context here: {err}")
    fbo = ctx.simple_framebuffer((1, 1))
    yield ctx, fbo
    fbo.release()
    ctx.release()


@pytest.fixture
def gl(gl_context: tuple[Any, Any]) -> Iterator[tuple[Any, Callable[[Any], Any]]]:
    """The context and a ``keep`` function; everything kept is released after the test."""
    ctx, fbo = gl_context
    fbo.use()
    assert ctx.error == "GL_NO_ERROR"
    kept: list[Any] = []

    def keep(obj: Any) -> Any:
        kept.append(obj)
        return obj

    yield ctx, keep
    # Rebind the module's framebuffer first: deleting the bound one leaves moderngl
    # re-binding a dead name later (GL_INVALID_OPERATION).
    fbo.use()
    for obj in reversed(kept):
        obj.release()
    assert ctx.error == "GL_NO_ERROR"


def _program_attributes(program: Any) -> dict[str, tuple[str, int]]:
    """What the staging layer extracts: name -> (kind, components), from scalar_type."""
    import moderngl

    return {
        name: (_GL_KIND[member.scalar_type], member.dimension * member.array_length)  # type: ignore[attr-defined]
        for name in program
        if isinstance(member := program[name], moderngl.Attribute)
    }


_CAPTURE_VS = """
#version 410
in vec2 in_pos;
in vec4 in_color;
in ivec2 in_i;
in uint in_u;
in float in_h;
in dvec2 in_d;
out vec4 out_a;
out vec4 out_b;
out vec4 out_c;
void main() {
    out_a = vec4(in_pos, in_h, float(in_u));
    out_b = in_color;
    out_c = vec4(vec2(in_i), vec2(in_d));
}
"""


@pytest.mark.gl
def test_gl_values_reach_the_shader_through_padding(gl: tuple[Any, Callable[[Any], Any]]) -> None:
    import moderngl

    ctx, keep = gl
    layout = VertexLayout(
        in_pos="2f", in_color="4f1 4x", in_i="2i2", in_u="1u", in_h="1f2 6x", in_d="2f8"
    )
    assert layout.format == "2f 4f1 4x 2i2 1u 1f2 6x 2f8"
    program = keep(ctx.program(vertex_shader=_CAPTURE_VS, varyings=["out_a", "out_b", "out_c"]))
    assert layout.check_attributes(_program_attributes(program)) == ()
    n = 5
    verts = np.zeros(n, layout.dtype)
    verts["in_pos"] = np.arange(2 * n).reshape(n, 2)
    verts["in_color"] = [[0, 51, 255, 102]] * n
    verts["in_i"] = [[-3, 7]] * n
    verts["in_u"] = np.arange(n) + 1000
    verts["in_h"] = 0.5
    verts["in_d"] = [[1.25, -2.5]] * n
    raw = verts.view(np.uint8).reshape(n, layout.stride)
    raw[:, 12:16] = 0xEE  # padding bytes: must not leak into any attribute
    raw[:, 26:32] = 0xEE
    vbo = keep(ctx.buffer(verts.tobytes()))
    out = keep(ctx.buffer(reserve=n * 12 * 4))
    vao = keep(ctx.vertex_array(program, [(vbo, layout.format, *layout.names)]))
    vao.transform(out, mode=moderngl.POINTS, vertices=n)
    got = np.frombuffer(out.read(), np.float32).reshape(n, 3, 4)
    np.testing.assert_array_equal(got[:, 0, :2], verts["in_pos"])
    np.testing.assert_array_equal(got[:, 0, 2], 0.5)
    np.testing.assert_array_equal(got[:, 0, 3], np.arange(n) + 1000)
    np.testing.assert_allclose(got[:, 1], [[0, 0.2, 1, 0.4]] * n, atol=1e-6)
    np.testing.assert_array_equal(got[:, 2], [[-3, 7, 1.25, -2.5]] * n)


@pytest.mark.gl
def test_gl_per_instance_layout(gl: tuple[Any, Callable[[Any], Any]]) -> None:
    import moderngl

    ctx, keep = gl
    per_vertex = VertexLayout(in_pos="2f")
    per_instance = VertexLayout(in_offset="2f 4x/i")
    program = keep(
        ctx.program(
            vertex_shader="""
            #version 410
            in vec2 in_pos;
            in vec2 in_offset;
            out vec2 out_p;
            void main() { out_p = in_pos + in_offset; }
            """,
            varyings=["out_p"],
        )
    )
    pos = np.zeros(2, per_vertex.dtype)
    pos["in_pos"] = [[1, 2], [3, 4]]
    offs = np.zeros(3, per_instance.dtype)
    offs["in_offset"] = [[10, 10], [20, 20], [30, 30]]
    out = keep(ctx.buffer(reserve=2 * 3 * 8))
    vao = keep(
        ctx.vertex_array(
            program,
            [
                (keep(ctx.buffer(pos.tobytes())), per_vertex.format, *per_vertex.names),
                (keep(ctx.buffer(offs.tobytes())), per_instance.format, *per_instance.names),
            ],
        )
    )
    vao.transform(out, mode=moderngl.POINTS, vertices=2, instances=3)
    got = np.frombuffer(out.read(), np.float32).reshape(3, 2, 2)
    expected = pos["in_pos"][None, :, :] + offs["in_offset"][:, None, :]
    np.testing.assert_array_equal(got, expected)


@pytest.mark.gl
def test_gl_renders_normalised_colour(gl: tuple[Any, Callable[[Any], Any]]) -> None:
    ctx, keep = gl
    layout = VertexLayout(in_pos="2f 4x", in_color="4f1")
    program = keep(
        ctx.program(
            vertex_shader="""
            #version 330
            in vec2 in_pos;
            in vec4 in_color;
            out vec4 v_color;
            void main() { v_color = in_color; gl_Position = vec4(in_pos, 0.0, 1.0); }
            """,
            fragment_shader="""
            #version 330
            in vec4 v_color;
            out vec4 f_color;
            void main() { f_color = v_color; }
            """,
        )
    )
    verts = np.zeros(3, layout.dtype)
    verts["in_pos"] = [[-1, -1], [3, -1], [-1, 3]]  # one triangle covering the viewport
    verts["in_color"] = [255, 128, 0, 255]
    vbo = keep(ctx.buffer(verts.tobytes()))
    vao = keep(ctx.vertex_array(program, [(vbo, layout.format, *layout.names)]))
    fbo = keep(ctx.simple_framebuffer((4, 4)))
    fbo.use()
    fbo.clear(0.0, 0.0, 0.0, 0.0)
    vao.render(vertices=3)
    pixels = np.frombuffer(fbo.read(components=4), np.uint8).reshape(4, 4, 4)
    assert (pixels == [255, 128, 0, 255]).all()


@pytest.mark.gl
def test_gl_format_for_skips_attributes_the_program_lacks(
    gl: tuple[Any, Callable[[Any], Any]],
) -> None:
    import moderngl

    ctx, keep = gl
    layout = VertexLayout(in_pos="2f", in_uv="2f", in_color="4f1")
    program = keep(
        ctx.program(
            vertex_shader="""
            #version 410
            in vec4 in_color;
            out vec4 out_c;
            void main() { out_c = in_color; }
            """,
            varyings=["out_c"],
        )
    )
    required = _program_attributes(program)
    assert required == {"in_color": ("f", 4)}
    assert layout.check_attributes(required) == ("in_pos", "in_uv")
    verts = np.zeros(2, layout.dtype)
    verts["in_pos"] = 9
    verts["in_uv"] = 9
    verts["in_color"] = [[255, 0, 255, 0], [0, 255, 0, 255]]
    vbo = keep(ctx.buffer(verts.tobytes()))
    with pytest.raises(KeyError, match="in_pos"):  # why format_for exists
        ctx.vertex_array(program, [(vbo, layout.format, *layout.names)])
    fmt, names = layout.format_for(required)
    assert (fmt, names) == ("16x 4f1", ("in_color",))
    out = keep(ctx.buffer(reserve=2 * 16))
    vao = keep(ctx.vertex_array(program, [(vbo, fmt, *names)]))
    vao.transform(out, mode=moderngl.POINTS, vertices=2)
    got = np.frombuffer(out.read(), np.float32).reshape(2, 4)
    np.testing.assert_array_equal(got, [[1, 0, 1, 0], [0, 1, 0, 1]])


@pytest.mark.gl
def test_gl_check_attributes_on_a_real_program(gl: tuple[Any, Callable[[Any], Any]]) -> None:
    ctx, keep = gl
    program = keep(ctx.program(vertex_shader=_CAPTURE_VS, varyings=["out_a", "out_b", "out_c"]))
    required = _program_attributes(program)
    assert required == {
        "in_pos": ("f", 2),
        "in_color": ("f", 4),
        "in_i": ("i", 2),
        "in_u": ("u", 1),
        "in_h": ("f", 1),
        "in_d": ("d", 2),
    }
    wrong = VertexLayout(
        in_pos="2f", in_color="4u1", in_i="2f", in_u="1u", in_h="1f 4x", in_d="2f8"
    )
    with pytest.raises(LayoutMismatchError, match=r"in_color: .*\n  in_i: the program reads ivec2"):
        wrong.check_attributes(required)


_TWO_VEC4_VS = """
#version 330
in vec4 a;
in vec4 b;
out vec4 o;
void main() { o = a + b; }
"""

# Formats moderngl itself refuses ("content[0][1] is an invalid format"); each must be
# refused here too, with a ValueError rather than a GL error.
MODERNGL_REJECTS = [
    ("4nu1", ["a"]),
    ("2d", ["a"]),
    ("4F", ["a"]),
    ("4i8", ["a"]),
    ("4u8", ["a"]),
    ("4f3", ["a"]),
    ("2f x3", ["a"]),
    ("2f x16", ["a"]),
    ("2f2x", ["a"]),
    ("4f4f", ["a", "b"]),
    ("4f/i 4f", ["a", "b"]),
    ("4f /x", ["a"]),
    ("4f/I", ["a"]),
]


@pytest.mark.gl
@pytest.mark.parametrize(("fmt", "names"), MODERNGL_REJECTS)
def test_gl_formats_moderngl_rejects_are_rejected(
    gl: tuple[Any, Callable[[Any], Any]], fmt: str, names: list[str]
) -> None:
    import moderngl

    ctx, keep = gl
    program = keep(ctx.program(vertex_shader=_TWO_VEC4_VS, varyings=["o"]))
    vbo = keep(ctx.buffer(reserve=256))
    with pytest.raises(moderngl.Error, match="invalid format"):
        ctx.vertex_array(program, [(vbo, fmt, *names)])
    with pytest.raises(ValueError, match=r"Invalid (vertex format token|usage suffix)"):
        VertexLayout.from_format(fmt, *names)


@pytest.mark.gl
@pytest.mark.parametrize(
    "layout",
    [
        VertexLayout(a="4f", b="4f"),
        VertexLayout(a="x4 2f 2x2", b="4f1 8x"),
        VertexLayout(a="3f2 2x", b="4i1"),
        VertexLayout(a="4u2", b="4f8"),
        VertexLayout(a="2f/i", b="1f 4x/i"),
        VertexLayout(a="1f1 3x/r", b="4f1/r"),
    ],
    ids=lambda layout: layout.format,
)
def test_gl_accepts_layout_formats(
    gl: tuple[Any, Callable[[Any], Any]], layout: VertexLayout
) -> None:
    ctx, keep = gl
    program = keep(ctx.program(vertex_shader=_TWO_VEC4_VS, varyings=["o"]))
    vbo = keep(ctx.buffer(np.zeros(4, layout.dtype).tobytes()))
    keep(ctx.vertex_array(program, [(vbo, layout.format, *layout.names)]))
    assert ctx.error == "GL_NO_ERROR"
