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
