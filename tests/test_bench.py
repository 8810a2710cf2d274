"""``python -m stagebuf.bench``'s behaviour, not its figures: merging the backends'
results, judging goals, the child process's replies, progress on stderr, --plot.

No assertion here depends on timing: the figures are fed in, or only their
shape is checked.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import stagebuf as sb
from stagebuf.bench import _arena_bench, _arena_cases, _staging_bench
from stagebuf.bench.__main__ import main
from stagebuf.bench._arena_cases import SWEEP_SIZES, repeats, sweep_op
from stagebuf.bench._arena_report import fast_path_table, goal_table, sweep_panel
from stagebuf.bench._arena_worker import Worker, WorkerError, parse_hello, parse_reply
from stagebuf.bench._plot import MISSING_MATPLOTLIB, Panel, Series, draw
from stagebuf.bench._progress import Progress

NS = 1e-9


def _row(table: str, start: str) -> str:
    """The one line of ``table`` that starts with ``start``."""
    (line,) = [line for line in table.splitlines() if line.startswith(start)]
    return line


def _reply(case: str, samples: dict[str, list[float]]) -> str:
    return json.dumps({"case": case, "samples": samples}) + "\n"


# -- the child's replies ------------------------------------------------------


def test_a_child_reply_parses_into_samples() -> None:
    line = _reply("small_scope", {"ours": [7e-7, 6e-7], "base": [2e-7, 1]})
    assert parse_reply(line, "small_scope") == {"ours": [7e-7, 6e-7], "base": [2e-7, 1.0]}


def test_a_child_hello_names_its_backend() -> None:
    assert parse_hello('{"backend": "python"}\n') == "python"
    with pytest.raises(WorkerError, match=r"hello names backend 'rust'; expected c/python"):
        parse_hello('{"backend": "rust"}')


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Traceback (most recent call last):", r"not a JSON reply"),
        ("[1, 2]", r"not a JSON object \(reply\)"),
        (_reply("frame", {"ours": [1.0]}), r"answered case 'frame', not 'small_scope'"),
        ('{"case": "small_scope", "error": "boom"}', r"failed in case 'small_scope':\nboom"),
        ('{"case": "small_scope"}', r"holds no samples"),
        (_reply("small_scope", {"ours": []}), r"holds no samples"),
        (_reply("small_scope", {"ours": ["fast"]}), r"holds no samples"),
        (_reply("small_scope", {"ours": [True]}), r"holds no samples"),
    ],
)
def test_a_bad_child_reply_raises_worker_error(line: str, message: str) -> None:
    with pytest.raises(WorkerError, match=message):
        parse_reply(line, "small_scope")


# -- merging both backends into one table -------------------------------------


# The frame's second row: the two sides' frames in turn (informative, no goal).
_MIXED = {"ours_mixed": [5e-3, 5e-3, 5e-3], "base_mixed": [1e-2, 1e-2, 1e-2]}


def _both_backends() -> dict[str, dict[str, dict[str, list[float]]]]:
    """This process's compiled figures and a child's pure-Python reply, merged."""
    own = {
        "small_scope": {"ours": [150 * NS, 140 * NS], "base": [200 * NS, 180 * NS]},
        "frame": {"ours": [1e-3, 1e-3, 9e-3], "base": [6e-3, 6e-3, 6e-3], **_MIXED},
    }
    child = {
        "small_scope": parse_reply(
            _reply("small_scope", {"ours": [800 * NS], "base": [200 * NS]}), "small_scope"
        ),
        "frame": parse_reply(
            _reply("frame", {"ours": [1e-3, 2e-3, 2e-3], "base": [11e-3, 11e-3, 11e-3], **_MIXED}),
            "frame",
        ),
    }
    return {"c": own, "python": child}


def test_each_backend_is_judged_against_its_own_processs_baseline() -> None:
    table = goal_table(_both_backends())
    row = _row(table, "4 KiB uninit_slice scope")
    # compiled: 140 / 180 ns = 0.78x (goal 0.8x); pure Python: 800 / 200 ns = 4.00x (goal 3.5x)
    assert "140 ns" in row and "180 ns" in row and "800 ns" in row
    assert "0.78x" in row and "4.00x" in row
    assert "c <= 0.8x, py <= 3.5x" in row
    assert row.endswith("c yes, py NO")


def test_the_frame_is_judged_on_its_median_not_its_minimum() -> None:
    row = _row(goal_table(_both_backends()), "frame of 64 temporaries")
    # compiled: the minimum (1 ms) would be 6x faster; the median is 1 ms too -> 6.00x.
    # pure Python: the minimum would be 11x faster; the median (2 ms) is 5.50x.
    assert "6.00x faster" in row and "5.50x faster" in row
    assert ">= 5x faster" in row
    assert row.endswith("c yes, py yes")
    slow_median = {
        "c": {"frame": {"ours": [1e-3, 3e-3, 3e-3], "base": [1e-2, 1e-2, 1e-2], **_MIXED}}
    }
    assert _row(goal_table(slow_median), "frame").endswith("c NO")


def test_rows_are_listed_only_for_cases_that_ran() -> None:
    table = goal_table(_both_backends())
    assert "buffer(list" not in table and "64 MiB" not in table
    assert len(table.splitlines()) == 2 + 3  # head, rule, three rows (the frame has two)
    mixed = _row(table, "the same frames, the two sides in turn")
    assert "2.00x faster  2.00x faster" in mixed and "(informative)" in mixed
    assert mixed.endswith(" -")  # no goal, no verdict


def test_without_a_compiled_arena_its_columns_read_na_and_only_python_is_judged() -> None:
    results = {"python": {"tuple_shape": {"ours": [808 * NS], "base": [800 * NS]}}}
    row = _row(goal_table(results), "4 KiB scope, shape (1024,)")
    cells = row.split()
    assert cells.count("n/a") == 3  # compiled, its baseline, its ratio
    assert "1.01x" in row and row.endswith("py yes")


def test_an_informative_row_has_no_verdict() -> None:
    results = {"python": {"big_fill": {"ours": [2e-3], "floor": [2e-3], "empty": [6e-3]}}}
    table = goal_table(results)
    assert re.search(r"1\.00x\s+<= 1\.15x\s+py yes$", _row(table, "64 MiB slice fill vs res"))
    assert re.search(
        r"3\.00x faster\s+\(informative\)\s+-$", _row(table, "64 MiB slice fill vs np")
    )


def test_the_fast_path_table_compares_each_backend_with_its_own_fast_path() -> None:
    samples = {"fast": [100 * NS], "slice_scope": [300 * NS], "locked": [1e-6]}
    table = fast_path_table({"python": {"fast_path": samples}})
    assert re.search(r"n/a\s+n/a\s+100 ns\s+1\.00x$", _row(table, "thread-local"))
    assert re.search(r"n/a\s+n/a\s+300 ns\s+3\.00x$", _row(table, "via slice_scope"))
    assert re.search(r"n/a\s+n/a\s+1\.0 µs\s+10\.00x$", _row(table, "via the slow path"))


def test_the_sweep_panel_has_a_line_per_backend_and_numpy_of_this_process() -> None:
    def sweep(ours_ns: float, base_ns: float) -> dict[str, list[float]]:
        samples = {}
        for n in SWEEP_SIZES:
            samples[sweep_op("ours", n)] = [ours_ns * NS]
            samples[sweep_op("base", n)] = [base_ns * NS]
        return samples

    results = {"c": {"sweep": sweep(150, 200)}, "python": {"sweep": sweep(700, 999)}}
    panel = sweep_panel(results, "c")
    assert [s.label for s in panel.series] == [
        "stagebuf, compiled",
        "stagebuf, pure Python",
        "np.empty",
    ]
    assert panel.series[0].x == SWEEP_SIZES and panel.x_bytes
    assert panel.series[0].y[0] == pytest.approx(150)
    assert panel.series[2].y[0] == pytest.approx(200)  # the parent's numpy, not the child's
    assert "no write" in panel.caption
    alone = sweep_panel({"python": results["python"]}, "python", note="Compiled path: n/a.")
    assert [s.label for s in alone.series] == ["stagebuf, pure Python", "np.empty"]
    assert alone.caption.endswith("Compiled path: n/a.")


# -- the parent's run: progress on stderr, tables on stdout --------------------


class _FakeWorker:
    """Stands in for the child process: answers every case with fixed samples."""

    backend = "python"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def measure(self, case: str, quick: bool) -> dict[str, list[float]]:
        self.asked.append(case)
        return {"ours": [900 * NS], "base": [800 * NS]}

    def __enter__(self) -> _FakeWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.fixture
def fake_arena(monkeypatch: pytest.MonkeyPatch) -> None:
    """The arena bench with a tiny tuple_shape case and, where the process runs the
    compiled arena, a fake child: no timing, no second process."""
    tiny = _arena_cases.Case("tiny case", lambda quick: {"ours": [200 * NS], "base": [190 * NS]})
    monkeypatch.setitem(_arena_cases.CASES, "tuple_shape", tiny)
    monkeypatch.setattr(_arena_bench, "warm_up", lambda: None)
    monkeypatch.setattr(_arena_bench, "Worker", _FakeWorker)


@pytest.mark.usefixtures("fake_arena")
def test_progress_goes_to_stderr_and_the_table_to_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _arena_bench.run(quick=True, only={"tuple_shape"}) is None
    out, err = capsys.readouterr()
    steps = 2 if sb.ARENA_BACKEND == "c" else 1
    lines = err.splitlines()
    assert len(lines) == 2 * steps  # a line as each case starts, one as it ends
    assert (
        lines[0]
        == f"arena [1/{steps}] tiny case, {_arena_bench.BACKEND_NAMES[sb.ARENA_BACKEND]} ..."
    )
    assert lines[1].startswith(f"arena [1/{steps}] tiny case, ") and lines[1].endswith(" s")
    assert "arena [" not in out and "tiny case" not in out
    row = _row(out, "4 KiB scope, shape (1024,)")
    assert "1.05x" in row  # this process: 200 / 190 ns
    if steps == 2:
        assert "1.12x" in row  # the (fake) child: 900 / 800 ns
    else:
        assert "compiled: n/a:" in out


def test_progress_counts_cases_and_times_each() -> None:
    stream = io.StringIO()
    progress = Progress("staging", 2, stream=stream)
    with progress.case("one"):
        pass
    with progress.case("two"):
        pass
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4
    assert lines[0] == "staging [1/2] one ..."
    assert lines[2] == "staging [2/2] two ..."
    assert lines[3].startswith("staging [2/2] two: ") and lines[3].endswith(" s")


def test_the_staging_panel_reuses_the_tables_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    measured: list[int] = []

    class Field:
        def __init__(self, n: int) -> None:
            self.n = n

    def sides(ctx: Any, program: Any, field: Field, quick: bool) -> tuple[float, float, float]:
        measured.append(field.n)
        return (3e-3, 1e-3, 1.1e-3)

    monkeypatch.setattr(_staging_bench, "_sides", sides)
    monkeypatch.setattr(_staging_bench, "ParticleField", Field)
    table = {n: (9e-3, 2e-3, 2e-3) for n in _staging_bench.SIZES}
    progress = Progress("staging", 4)
    panel = _staging_bench._sweep_panel(None, None, table, True, progress)
    assert sorted(measured) == sorted(set(_staging_bench.SWEEP_SIZES) - set(_staging_bench.SIZES))
    assert [s.label for s in panel.series] == ["naive", "hand-written", "stagebuf"]
    naive = panel.series[0]
    assert list(naive.x) == sorted(_staging_bench.SWEEP_SIZES)
    assert naive.y[list(naive.x).index(100_000)] == pytest.approx(9.0)  # ms, from the table
    assert naive.y[list(naive.x).index(1_000)] == pytest.approx(3.0)  # ms, measured here


# -- --plot ----------------------------------------------------------------------


def _panels() -> list[Panel]:
    arena = Panel(
        "Arena: ns per scope",
        "slice size",
        "ns",
        "no write",
        [Series("np.empty", [64, 4096, 2**26], [150, 180, 8000])],
        x_bytes=True,
    )
    staging = Panel(
        "Staging: CPU ms per frame",
        "triangles",
        "ms",
        "no drawing",
        [Series("naive", [1e3, 1e6], [0.1, 90])],
    )
    return [arena, staging]


def test_plot_draws_one_log_log_panel_per_suite_into_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "bench.png"
    fig = draw(path, _panels())
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Arena: ns per scope", "Staging: CPU ms per frame"]
    for ax in fig.axes:
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["64 B", "4 KiB", "64 MiB"]
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == ["naive"]
    one = draw(tmp_path / "arena.png", _panels()[:1])
    assert [ax.get_title() for ax in one.axes] == ["Arena: ns per scope"]


def test_plot_with_no_panel_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nothing to plot"):
        draw(tmp_path / "x.png", [])


def test_plot_without_matplotlib_exits_2_with_one_line_before_any_bench(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails

    def no_bench(*args: object, **kwargs: object) -> None:
        raise AssertionError("a bench ran although --plot cannot be drawn")

    monkeypatch.setattr(_arena_bench, "run", no_bench)
    assert main(["arena", "--quick", "--plot", str(tmp_path / "x.png")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: {MISSING_MATPLOTLIB}\n"
    assert "pip install matplotlib" in err and "stagebuf[plot]" in err
    assert not (tmp_path / "x.png").exists()


# -- the real child process ----------------------------------------------------


def test_the_child_runs_the_pure_python_arena_and_answers_a_case() -> None:
    with Worker() as worker:
        assert worker.backend == "python"
        samples = worker.measure("tuple_shape", quick=True)
        assert set(samples) == {"ours", "base"}
        assert all(len(v) == repeats(quick=True) and min(v) > 0 for v in samples.values())
        with pytest.raises(
            WorkerError, match=r"(?s)failed in case 'nope':\n.*Unknown arena case 'nope'"
        ):
            worker.measure("nope", quick=True)


@pytest.mark.slow
def test_quick_arena_run_with_plot_writes_the_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "arena.png"
    done = subprocess.run(
        [sys.executable, "-m", "stagebuf.bench", "arena", "--quick", "--plot", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.rstrip().endswith(f"plot: {path}")
    assert "4 KiB uninit_slice scope vs np.empty" in done.stdout
    assert "arena [" in done.stderr and "arena [" not in done.stdout
    assert path.stat().st_size > 10_000


def test_web_suite_prints_its_table(browser: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m stagebuf.bench web --quick`: frames a headless page drew, and the
    demo's bytes per frame (its vertices and a draw list of a few hundred bytes)."""
    from stagebuf.bench import _web_bench

    _web_bench.run(quick=True)
    out = capsys.readouterr().out
    rows = re.findall(r"^\s+(10,000|100,000)\s+([\d,]+)\s+([\d.]+)\s+([\d.]+)", out, re.M)
    assert [r[0] for r in rows] == ["10,000", "100,000"], out
    for triangles, nbytes, _staged, drawn in rows:
        vertices = int(triangles.replace(",", "")) * 3 * 12
        assert vertices < int(nbytes.replace(",", "")) < vertices + 2048
        assert float(drawn) > 0  # the page drew frames
    assert "the demo (20,000 triangles, 60 frames/s): 720," in out
