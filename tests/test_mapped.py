"""The "mapped" strategy: frames written straight into persistently mapped GL buffers.

Pixels equal the "ring" strategy's; steady frames copy nothing and make no GL
object; a frame waits only on the fence of the slot it is about to write;
growth, trim() and release() never leave a kept view over unmapped memory;
checked mode poisons a slot's mapping when it is handed out again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import stagebuf as sb
from stagebuf._backends._moderngl import _mapping
from stagebuf._backends._moderngl._glfuncs import GlFuncs
from stagebuf._gl import load_program

SIZE = 64
LAYOUT = sb.VertexLayout(in_pos="2f", in_color="4f1")
RED = (255, 0, 0, 255)
GREEN = (0, 255, 0, 255)
BLUE = (0, 0, 255, 255)


@pytest.fixture
def program(ctx: Any) -> Iterator[Any]:
    prog = load_program(ctx)
    yield prog
    prog.release()


@pytest.fixture
def mapped_ok(ctx: Any) -> None:
    if sb.Stager(ctx, LAYOUT, load_program(ctx)).strategy != "mapped":
        pytest.skip("persistent mapping is off or missing here")


def image(fbo: Any, stager: sb.Stager) -> np.ndarray[Any, Any]:
    fbo.clear(0.0, 0.0, 0.0, 1.0)
    stager.render()
    return np.frombuffer(fbo.read(components=4, alignment=1), np.uint8).reshape(SIZE, SIZE, 4)


def centre(img: np.ndarray[Any, Any]) -> tuple[int, ...]:
    return tuple(int(c) for c in img[SIZE // 2, SIZE // 2])


def triangle(view: np.ndarray[Any, Any], color: tuple[int, int, int, int]) -> None:
    view["in_pos"] = 5.0  # off screen but the first three
    view["in_pos"][:3] = [(-0.9, -0.9), (0.9, -0.9), (0.0, 0.9)]
    view["in_color"] = color


def stage(stager: sb.Stager, n: int, color: tuple[int, int, int, int]) -> np.ndarray[Any, Any]:
    with stager.frame() as frame:
        v = frame.reserve(n)
        triangle(v, color)
    return v


def test_default_is_mapped_here_and_pixels_equal_the_ring_strategy(
    ctx: Any, fbo: Any, program: Any, mapped_ok: None
) -> None:
    images: dict[str, list[np.ndarray[Any, Any]]] = {}
    for strategy in ("mapped", "ring"):
        rng = np.random.default_rng(3)  # the same frames for both
        with sb.Stager(ctx, LAYOUT, program, strategy=strategy) as stager:
            assert stager.strategy == strategy
            for n in (30, 3000, 30, 90, 12):  # growth, steady, every slot
                with stager.frame() as frame:
                    v = frame.reserve(n)
                    v["in_pos"] = rng.uniform(-1, 1, (n, 2))
                    v["in_color"] = rng.integers(0, 256, (n, 4))
                    verts, idx = frame.reserve_indexed(4, 6)
                    verts["in_pos"] = [(-0.2, -0.2), (0.2, -0.2), (0.2, 0.2), (-0.2, 0.2)]
                    verts["in_color"] = BLUE
                    idx[:] = [0, 1, 2, 0, 2, 3]
                images.setdefault(strategy, []).append(image(fbo, stager))
    for got, want in zip(images["mapped"], images["ring"], strict=True):
        assert (got == want).all()
    assert sb.Stager(ctx, LAYOUT, program).strategy == "mapped"


def test_steady_frames_copy_nothing_and_make_no_gl_object(
    ctx: Any, fbo: Any, program: Any, mapped_ok: None
) -> None:
    with sb.Stager(ctx, LAYOUT, program, strategy="mapped") as stager:
        for _ in range(4):  # each ring slot made once
            stage(stager, 2000, RED)
            image(fbo, stager)
        stats = stager.stats
        made = (stats.buffers_created, stats.vertex_arrays_created, stats.arena_growths)
        for color in (GREEN, BLUE, RED) * 5:
            with stager.frame() as frame:
                v = frame.reserve(2000)
                # The frame's views are the slot's mapping, not arena memory.
                assert v.base is stager._uploader.slots[stager._uploader.next_slot].vmap.window
                triangle(v, color)
            assert stats.writes_last_frame == 0
            assert centre(image(fbo, stager)) == color
        assert (stats.buffers_created, stats.vertex_arrays_created, stats.arena_growths) == made
        assert stats.bytes_uploaded_last_frame == 2000 * LAYOUT.stride
        assert stager.stack.bytes_in_use == 0


def test_a_frame_waits_only_on_the_slot_it_writes_and_counts_the_waits(
    ctx: Any, fbo: Any, program: Any, mapped_ok: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    waited: list[int] = []
    real = GlFuncs.wait

    def wait(self: GlFuncs, fence: int) -> bool:
        real(self, fence)
        waited.append(fence)
        return True  # as if the GPU were still reading: counted

    monkeypatch.setattr(GlFuncs, "wait", wait)
    with sb.Stager(ctx, LAYOUT, program, strategy="mapped", ring_size=3) as stager:
        uploader = stager._uploader
        for _ in range(3):
            stage(stager, 300, RED)
            image(fbo, stager)
        assert waited == []  # each slot's first frame: its mapping is made at the upload
        for i in range(6):
            slots = uploader.slots
            fences = [slot.fence for slot in slots]
            nxt = uploader.next_slot
            stage(stager, 300, GREEN)
            assert waited[-1] == fences[nxt]  # that slot's fence, none other
            assert len(waited) == i + 1
            assert stager.stats.fence_waits == i + 1
            image(fbo, stager)
        # Uploaded but never drawn: the slot holds no new fence, the next frame there
        # waits on nothing it did not need to.
        assert all(slot.fence for slot in uploader.slots)


def test_growth_keeps_handed_out_views_valid(
    ctx: Any, fbo: Any, program: Any, mapped_ok: None
) -> None:
    with sb.Stager(ctx, LAYOUT, program, strategy="mapped", ring_size=2) as stager:
        for _ in range(3):
            stage(stager, 30, RED)
        with stager.frame() as frame:
            first = frame.reserve(3)  # in the slot's mapping
            big = frame.reserve(100_000)  # past it: arena memory, copied at the end
            triangle(first, GREEN)  # written after the growth: still counts
            big["in_pos"] = 5.0
            big["in_color"] = RED
        assert stager.stats.writes_last_frame >= 1
        assert centre(image(fbo, stager)) == GREEN
        old = [m for m in stager._uploader.retired]
        assert old, "the outgrown mapping waits while a view of it lives"
        assert tuple(first["in_color"][0]) == GREEN  # readable: still mapped
        del first, frame
        gc.collect()
        for color in (BLUE, RED):
            stage(stager, 100_000, color)
            assert centre(image(fbo, stager)) == color
        assert stager._uploader.retired == []  # unmapped once no view read it


def test_trim_and_release_unmap_but_never_under_a_kept_view(
    ctx: Any, fbo: Any, program: Any, mapped_ok: None
) -> None:
    stager = sb.Stager(ctx, LAYOUT, program, strategy="mapped", ring_size=2)
    kept = stage(stager, 3000, RED)  # slot 0 (arena: its mapping is made at upload)
    for color in (GREEN, BLUE):
        kept = stage(stager, 3000, color)  # slot 1, then slot 0's mapping
    assert kept.base is not None
    stage(stager, 3000, RED)  # slot 1 is drawn now; slot 0 holds the kept view
    before = stager.gl_bytes
    assert stager.trim() > 0 and stager.gl_bytes < before
    assert len(stager._uploader.retired) == 1  # slot 0's buffer: a view still reads it
    assert tuple(kept["in_color"][0]) == BLUE  # no crash: still mapped
    kept["in_pos"] = 0.0  # writing is harmless too
    assert centre(image(fbo, stager)) == RED
    stage(stager, 3000, GREEN)
    kept2 = stage(stager, 3000, BLUE)
    del kept
    gc.collect()
    stage(stager, 3000, RED)
    assert stager._uploader.retired == []
    stager.release()  # kept2's buffer is left to a later sweep on this context
    assert any(m.window is not None for _, m in _mapping._LEFT)
    assert tuple(kept2["in_color"][0]) == BLUE
    del kept2
    gc.collect()
    with sb.Stager(ctx, LAYOUT, program, strategy="mapped") as other:
        stage(other, 3, RED)
    assert _mapping._LEFT == []
    assert ctx.error == "GL_NO_ERROR"


def test_checked_mode_poisons_a_slot_handed_out_again(
    ctx: Any, fbo: Any, program: Any, mapped_ok: None
) -> None:
    stack = sb.Stack(checked=True)
    with sb.Stager(ctx, LAYOUT, program, strategy="mapped", ring_size=2, stack=stack) as stager:
        for _ in range(2):
            stage(stager, 30, RED)
        kept = stage(stager, 30, GREEN)  # written into slot 0's mapping
        assert tuple(kept["in_color"][0]) == GREEN
        assert centre(image(fbo, stager)) == GREEN  # the frame itself is drawn intact
        stage(stager, 30, BLUE)  # slot 1: slot 0 still holds the kept frame
        assert tuple(kept["in_color"][0]) == GREEN
        with stager.frame() as frame:  # slot 0 handed out again: poisoned first
            assert (kept["in_color"] == 0xFF).all()
            assert np.isnan(kept["in_pos"]).all()
            triangle(frame.reserve(30), RED)
        assert centre(image(fbo, stager)) == RED


def test_a_discarded_frame_in_the_mapping_leaves_the_previous_one(
    ctx: Any, fbo: Any, program: Any, mapped_ok: None
) -> None:
    with sb.Stager(ctx, LAYOUT, program, strategy="mapped", ring_size=2) as stager:
        for _ in range(3):
            stage(stager, 30, RED)
        with pytest.raises(RuntimeError, match="in the block"), stager.frame() as frame:
            triangle(frame.reserve(30), GREEN)
            raise RuntimeError("in the block")
        assert stager.stats.frames_discarded == 1
        assert centre(image(fbo, stager)) == RED
        stage(stager, 30, BLUE)
        assert centre(image(fbo, stager)) == BLUE
        assert stager.stats.writes_last_frame == 0


def test_the_frame_buffers_read_back_under_mapped(ctx: Any, program: Any, mapped_ok: None) -> None:
    with sb.Stager(ctx, LAYOUT, program, strategy="mapped") as stager:
        for _ in range(4):
            with stager.frame() as frame:
                v, i = frame.reserve_indexed(3, 3)
                triangle(v, RED)
                i[:] = [2, 1, 0]
        got = np.frombuffer(stager.vertex_buffer.read(3 * LAYOUT.stride), LAYOUT.dtype)
        assert got["in_color"].tolist() == [list(RED)] * 3
        assert np.frombuffer(stager.index_buffer.read(12), np.uint32).tolist() == [2, 1, 0]


def test_mapping_switched_off_falls_back_to_ring_and_refuses_mapped(
    ctx: Any, program: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGEBUF_NO_MAPPED", "1")
    with sb.Stager(ctx, LAYOUT, program) as stager:
        assert stager.strategy == "ring"
        with pytest.raises(
            sb.StagerError, match=r"strategy 'mapped' cannot run .*STAGEBUF_NO_MAPPED=1 is set"
        ):
            stager.strategy = "mapped"
        assert stager.strategy == "ring"
    with pytest.raises(sb.StagerError, match=r"strategy 'mapped' cannot run"):
        sb.Stager(ctx, LAYOUT, program, strategy="mapped")


def test_switching_strategies_keeps_the_frame_and_stays_correct(
    ctx: Any, fbo: Any, program: Any, mapped_ok: None
) -> None:
    with sb.Stager(ctx, LAYOUT, program, strategy="mapped") as stager:
        for strategy, color in [
            ("mapped", RED),
            ("ring", GREEN),
            ("mapped", BLUE),
            ("write", RED),
            ("orphan", GREEN),
            ("mapped", BLUE),
        ]:
            stager.strategy = strategy
            if stager.stats.frames:
                assert centre(image(fbo, stager)) != (0, 0, 0, 255)  # the last frame stays
            for _ in range(4):
                stage(stager, 300, color)
                assert centre(image(fbo, stager)) == color
    assert ctx.error == "GL_NO_ERROR"


def test_an_interrupted_wait_keeps_the_fence_and_the_frame_on_screen(
    ctx: Any, fbo: Any, program: Any, mapped_ok: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sb.Stager(ctx, LAYOUT, program, strategy="mapped", ring_size=1) as stager:
        assert len(stager._uploader.slots) == 2  # never the slot on screen
        for color in (RED, GREEN, RED):
            stage(stager, 30, color)
            image(fbo, stager)
        uploader = stager._uploader
        slot = uploader.slots[uploader.next_slot]
        fence = slot.fence
        assert fence
        real = GlFuncs.wait
        state = {"armed": True}

        def wait(self: GlFuncs, f: int) -> bool:
            if state["armed"]:
                state["armed"] = False
                raise KeyboardInterrupt
            return real(self, f)

        monkeypatch.setattr(GlFuncs, "wait", wait)
        with pytest.raises(KeyboardInterrupt):
            stage(stager, 30, BLUE)
        assert stager.open_frame is None
        assert slot.fence == fence  # not waited: the next frame there waits on it
        assert centre(image(fbo, stager)) == RED
        stage(stager, 30, BLUE)
        assert centre(image(fbo, stager)) == BLUE


def test_the_loader_falls_back_to_the_platform_and_names_what_is_missing(
    ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stagebuf._backends._moderngl import _glfuncs

    class Bare:  # a context without glcontext's loader (a window's DefaultLoader)
        version_code = 450
        extensions: frozenset[str] = frozenset()

    monkeypatch.delenv("STAGEBUF_NO_MAPPED", raising=False)
    ctx.__enter__()  # EGL current: eglGetProcAddress answers
    loaded = _glfuncs.load(Bare())
    assert loaded.problem is None
    assert set(loaded.funcs) == set(_glfuncs._SIGNATURES)
    Bare.version_code = 430
    assert "needs GL 4.4 or GL_ARB_buffer_storage; this context is 430" in str(
        _glfuncs.load(Bare()).problem
    )
    Bare.extensions = frozenset({"GL_ARB_buffer_storage"})
    assert _glfuncs.load(Bare()).problem is None
    monkeypatch.setattr(_glfuncs, "_loader", lambda ctx: lambda name: 0)
    assert _glfuncs.load(Bare()).problem == "the context's loader has no glBindBuffer"
