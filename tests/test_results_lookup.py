"""results_lookup: one contract for both sides, the bugs the optimized side fixes, the pair.

``ResultsLookupContract`` runs against the reference and the optimized module (PEP 399 style) on
the valid domain: keys whose globs match only their own files, distinct stamps. The differences
the optimized side makes on purpose (same-microsecond writes, ``1h`` vs ``1h_raw``,
``BTC``/``USD_1h`` vs ``BTC_USD``/``1h``, concurrent writers) are documented by explicit tests.
"""
from __future__ import annotations

import errno
import json
import math
import multiprocessing
import os
import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Optional
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimized import results_lookup as optimized_mod
from pairbench.registry import NotEquivalent, select
from reference import results_lookup as reference_mod

T0 = datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)

# No key's "{symbol}_{timeframe}_" is a prefix of another's: the reference's glob is exact here.
VALID_KEYS = [("BTC", "1h"), ("BTC", "4h"), ("ETH", "1h"), ("ETH", "5m"), ("BTC_USD", "1h"),
              ("SOL", "1h_raw")]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
payloads = st.dictionaries(st.text(max_size=8), json_values, max_size=4)


def frozen_clock(module: ModuleType, *moments: datetime) -> mock._patch:
    """Make the module's writer see ``moments``, one per write."""
    return mock.patch.object(module, "_utc_now", side_effect=list(moments))


def result_files(folder: Path) -> list[str]:
    """Names of the result files in ``folder`` (pointers and temp files excluded)."""
    return sorted(n for n in os.listdir(folder) if n.endswith(".json"))


class ResultsLookupContract:
    """The semantics both sides share (see reference/results_lookup.py)."""

    mod: Optional[ModuleType] = None

    # -- valid domain --------------------------------------------------------------------
    def test_file_name_is_key_and_utc_stamp(self, tmp_path: Path) -> None:
        with frozen_clock(self.mod, T0):
            path = self.mod.write_result(tmp_path, "BTC", "1h", {"sharpe": 1.5})
        assert path == tmp_path / "BTC_1h_20240102T030405123456Z.json"
        assert json.loads(path.read_bytes()) == {"sharpe": 1.5}

    def test_stamp_is_taken_in_utc(self, tmp_path: Path) -> None:
        plus_two = timezone(timedelta(hours=2))
        with frozen_clock(self.mod, T0.astimezone(plus_two)):
            path = self.mod.write_result(tmp_path, "BTC", "1h", {})
        assert path.name == "BTC_1h_20240102T030405123456Z.json"

    def test_find_returns_what_write_returned(self, tmp_path: Path) -> None:
        written = self.mod.write_result(str(tmp_path), "ETH", "4h", {"a": [1, 2.5, None]})
        found = self.mod.find_latest_result(str(tmp_path), "ETH", "4h")
        assert found == written and isinstance(found, Path)
        assert self.mod.find_latest_result(tmp_path, "ETH", "4h") == written

    # differing_executors: this one method runs for TestReference and TestOptimized on purpose
    # (PEP 399); each example builds its own folder, so nothing carries over between the two.
    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors])
    @given(writes=st.lists(st.tuples(st.sampled_from(VALID_KEYS), st.integers(0, 10**11), payloads),
                           min_size=1, max_size=10, unique_by=lambda w: w[1]))
    def test_latest_by_stamp_and_payloads_round_trip(self, writes: list) -> None:
        """Writes in any stamp order: each key's newest stamp is found; every payload reads back."""
        with tempfile.TemporaryDirectory() as folder:
            moments = [T0 + timedelta(microseconds=offset) for _, offset, _ in writes]
            newest: dict[tuple[str, str], tuple[datetime, Path]] = {}
            with frozen_clock(self.mod, *moments):
                for (key, _, payload), moment in zip(writes, moments):
                    path = self.mod.write_result(folder, *key, payload)
                    assert json.loads(path.read_bytes()) == payload
                    if key not in newest or moment > newest[key][0]:
                        newest[key] = (moment, path)
            assert len(result_files(Path(folder))) == len(writes)
            for key, (_, path) in newest.items():
                assert self.mod.find_latest_result(folder, *key) == path

    def test_no_temp_files_left(self, tmp_path: Path) -> None:
        for i in range(3):
            self.mod.write_result(tmp_path, "BTC", "1h", {"i": i})
        leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
        assert leftovers == []

    def test_no_result_names_symbol_and_timeframe(self, tmp_path: Path) -> None:
        self.mod.write_result(tmp_path, "BTC", "4h", {})
        with pytest.raises(FileNotFoundError, match=r"symbol='ETH'.*timeframe='4h'"):
            self.mod.find_latest_result(tmp_path, "ETH", "4h")

    # -- bad input ----------------------------------------------------------------------
    @pytest.mark.parametrize("symbol, timeframe, exc, arg", [
        ("", "1h", ValueError, "symbol"),
        ("BTC", "", ValueError, "timeframe"),
        ("BTC/USD", "1h", ValueError, "symbol"),
        ("BTC\\USD", "1h", ValueError, "symbol"),
        ("BTC", "../1h", ValueError, "timeframe"),
        ("BT*", "1h", ValueError, "symbol"),
        ("BTC", "1?", ValueError, "timeframe"),
        ("BT[C]", "1h", ValueError, "symbol"),
        ("BTC\0", "1h", ValueError, "symbol"),
        (None, "1h", TypeError, "symbol"),
        ("BTC", 60, TypeError, "timeframe"),
    ])
    def test_bad_key_refused_by_both_functions(self, tmp_path: Path, symbol, timeframe, exc, arg) -> None:
        with pytest.raises(exc, match=f"^{arg}:"):
            self.mod.write_result(tmp_path, symbol, timeframe, {"x": 1})
        with pytest.raises(exc, match=f"^{arg}:"):
            self.mod.find_latest_result(tmp_path, symbol, timeframe)
        assert os.listdir(tmp_path) == []

    def test_missing_results_dir_refused_not_created(self, tmp_path: Path) -> None:
        missing = tmp_path / "no" / "such"
        with pytest.raises(FileNotFoundError, match="^results_dir:"):
            self.mod.write_result(missing, "BTC", "1h", {})
        with pytest.raises(FileNotFoundError, match="^results_dir:"):
            self.mod.find_latest_result(missing, "BTC", "1h")
        assert os.listdir(tmp_path) == []

    def test_results_dir_that_is_a_file_refused(self, tmp_path: Path) -> None:
        a_file = tmp_path / "results.json"
        a_file.write_text("{}")
        with pytest.raises(NotADirectoryError, match="^results_dir:"):
            self.mod.write_result(a_file, "BTC", "1h", {})
        with pytest.raises(NotADirectoryError, match="^results_dir:"):
            self.mod.find_latest_result(a_file, "BTC", "1h")

    def test_results_dir_of_wrong_type_refused(self) -> None:
        with pytest.raises(TypeError, match="^results_dir:"):
            self.mod.write_result(42, "BTC", "1h", {})
        with pytest.raises(TypeError, match="^results_dir:"):
            self.mod.find_latest_result(42, "BTC", "1h")

    @pytest.mark.parametrize("payload, exc", [
        ({"when": datetime(2024, 1, 1)}, TypeError),
        ({"obj": object()}, TypeError),
        ([("not", "a dict")], TypeError),
        ("{}", TypeError),
        ({"sharpe": math.nan}, ValueError),
        ({"pnl": [1.0, math.inf]}, ValueError),
    ])
    def test_bad_payload_refused_and_nothing_written(self, tmp_path: Path, payload, exc) -> None:
        with pytest.raises(exc, match="^payload:"):
            self.mod.write_result(tmp_path, "BTC", "1h", payload)
        assert os.listdir(tmp_path) == []


class TestReference(ResultsLookupContract):
    mod = reference_mod


class TestOptimized(ResultsLookupContract):
    mod = optimized_mod


# -- one folder, either side ------------------------------------------------------------------
def test_folder_written_by_optimized_reads_with_reference(tmp_path: Path) -> None:
    moments = [T0 + timedelta(seconds=s) for s in (3, 1, 2, 5, 4)]
    keys = [("BTC", "1h"), ("ETH", "1h"), ("BTC", "1h"), ("ETH", "1h"), ("BTC", "4h")]
    with frozen_clock(optimized_mod, *moments):
        for key in keys:
            optimized_mod.write_result(tmp_path, *key, {"key": list(key)})
    for key in set(keys):
        assert (reference_mod.find_latest_result(tmp_path, *key)
                == optimized_mod.find_latest_result(tmp_path, *key))
    # pointers match no result glob: the reference sees exactly the five results
    assert len(list(tmp_path.glob("*_*_*.json"))) == 5


def test_folder_written_by_reference_reads_with_optimized_then_o1(tmp_path: Path) -> None:
    """No pointers yet: one scan finds the newest and records it; later lookups do not scan."""
    with frozen_clock(reference_mod, T0, T0 + timedelta(seconds=2), T0 + timedelta(seconds=1)):
        for i in range(3):
            reference_mod.write_result(tmp_path, "BTC", "1h", {"i": i})
    expected = reference_mod.find_latest_result(tmp_path, "BTC", "1h")
    assert optimized_mod.find_latest_result(tmp_path, "BTC", "1h") == expected
    assert (tmp_path / optimized_mod.POINTER_DIR).is_dir()
    with mock.patch.object(optimized_mod, "_scan_latest", side_effect=AssertionError("scanned")):
        assert optimized_mod.find_latest_result(tmp_path, "BTC", "1h") == expected


# -- documented differences: the naive bugs the optimized side fixes ----------------------------
def test_same_microsecond_reference_loses_a_write(tmp_path: Path) -> None:
    with frozen_clock(reference_mod, T0, T0):
        first = reference_mod.write_result(tmp_path, "BTC", "1h", {"run": 1})
        second = reference_mod.write_result(tmp_path, "BTC", "1h", {"run": 2})
    assert first == second
    assert result_files(tmp_path) == [first.name]
    assert json.loads(first.read_bytes()) == {"run": 2}  # run 1 is gone


def test_same_microsecond_optimized_keeps_every_write(tmp_path: Path) -> None:
    with frozen_clock(optimized_mod, *[T0] * 4):
        paths = [optimized_mod.write_result(tmp_path, "BTC", "1h", {"run": i}) for i in range(4)]
    assert [p.name for p in paths] == ["BTC_1h_20240102T030405123456Z.json",
                                       "BTC_1h_20240102T030405123456Z_000001.json",
                                       "BTC_1h_20240102T030405123456Z_000002.json",
                                       "BTC_1h_20240102T030405123456Z_000003.json"]
    assert [json.loads(p.read_bytes()) for p in paths] == [{"run": i} for i in range(4)]
    assert optimized_mod.find_latest_result(tmp_path, "BTC", "1h") == paths[-1]
    assert reference_mod.find_latest_result(tmp_path, "BTC", "1h") == paths[-1]  # sorts after
    with frozen_clock(optimized_mod, T0 + timedelta(microseconds=1)):
        later = optimized_mod.write_result(tmp_path, "BTC", "1h", {"run": 4})
    assert optimized_mod.find_latest_result(tmp_path, "BTC", "1h") == later


def test_same_microsecond_without_hard_links(tmp_path: Path) -> None:
    """A file system without hard links: names are reserved with O_EXCL instead, nothing lost."""
    no_links = OSError(errno.EPERM, "Operation not permitted")
    with frozen_clock(optimized_mod, T0, T0), mock.patch.object(os, "link", side_effect=no_links):
        first = optimized_mod.write_result(tmp_path, "BTC", "1h", {"run": 1})
        second = optimized_mod.write_result(tmp_path, "BTC", "1h", {"run": 2})
    assert first != second
    assert [json.loads(p.read_bytes()) for p in (first, second)] == [{"run": 1}, {"run": 2}]
    assert optimized_mod.find_latest_result(tmp_path, "BTC", "1h") == second


def test_1h_vs_1h_raw_reference_confused_optimized_not(tmp_path: Path) -> None:
    for mod in (reference_mod, optimized_mod):
        folder = tmp_path / mod.__name__
        folder.mkdir()
        with frozen_clock(mod, T0, T0 + timedelta(hours=1)):
            raw = mod.write_result(folder, "BTC", "1h_raw", {"raw": True})
            plain = mod.write_result(folder, "BTC", "1h", {"raw": False})
        found = mod.find_latest_result(folder, "BTC", "1h")
        if mod is reference_mod:
            assert found == raw  # the glob BTC_1h_*.json matched the 1h_raw file, and it sorts last
        else:
            assert found == plain
            shutil.rmtree(folder / optimized_mod.POINTER_DIR)  # the scan is exact as well
            assert optimized_mod.find_latest_result(folder, "BTC", "1h") == plain
        assert mod.find_latest_result(folder, "BTC", "1h_raw") == raw


def test_symbol_timeframe_split_reference_confused_optimized_not(tmp_path: Path) -> None:
    for mod in (reference_mod, optimized_mod):
        folder = tmp_path / mod.__name__
        folder.mkdir()
        with frozen_clock(mod, T0, T0 + timedelta(seconds=1)):
            btc = mod.write_result(folder, "BTC", "USD_1h", {"key": "BTC/USD_1h"})
            btc_usd = mod.write_result(folder, "BTC_USD", "1h", {"key": "BTC_USD/1h"})
        found = mod.find_latest_result(folder, "BTC", "USD_1h")
        assert found == (btc_usd if mod is reference_mod else btc)


def test_symbol_timeframe_split_same_stamp(tmp_path: Path) -> None:
    """Same stamp, same file name for two keys: the reference overwrites the other key's result."""
    for mod in (reference_mod, optimized_mod):
        folder = tmp_path / mod.__name__
        folder.mkdir()
        with frozen_clock(mod, T0, T0):
            mod.write_result(folder, "BTC", "USD_1h", {"key": "BTC/USD_1h"})
            mod.write_result(folder, "BTC_USD", "1h", {"key": "BTC_USD/1h"})
        found = {key: json.loads(mod.find_latest_result(folder, *key.split("/")).read_bytes())
                 for key in ("BTC/USD_1h", "BTC_USD/1h")}
        if mod is reference_mod:
            assert len(result_files(folder)) == 1
            assert found["BTC/USD_1h"] == {"key": "BTC_USD/1h"}
        else:
            assert len(result_files(folder)) == 2
            assert found == {key: {"key": key} for key in found}


# -- optimized side: the pointer is checked, never trusted blindly ------------------------------
def _pointer_path(folder: Path, symbol: str, timeframe: str) -> Path:
    return folder / optimized_mod._valid_key(symbol, timeframe).pointer


def test_pointer_to_deleted_result_falls_back_and_repairs(tmp_path: Path) -> None:
    with frozen_clock(optimized_mod, T0, T0 + timedelta(seconds=1)):
        older = optimized_mod.write_result(tmp_path, "BTC", "1h", {"i": 0})
        newer = optimized_mod.write_result(tmp_path, "BTC", "1h", {"i": 1})
    newer.unlink()
    assert optimized_mod.find_latest_result(tmp_path, "BTC", "1h") == older
    assert _pointer_path(tmp_path, "BTC", "1h").read_text().splitlines()[0] == older.name
    older.unlink()
    with pytest.raises(FileNotFoundError, match="symbol='BTC'"):
        optimized_mod.find_latest_result(tmp_path, "BTC", "1h")


@pytest.mark.parametrize("content", [
    b"", b"\xff\xfe garbage", b"../../etc/passwd\n[\"BTC\", \"1h\"]\n",
    b"ETH_1h_20240102T030405123456Z.json\n[\"ETH\", \"1h\"]\n",  # another key's pointer copied over
])
def test_bad_pointer_is_ignored(tmp_path: Path, content: bytes) -> None:
    with frozen_clock(optimized_mod, T0, T0 + timedelta(seconds=1)):
        eth = optimized_mod.write_result(tmp_path, "ETH", "1h", {})
        btc = optimized_mod.write_result(tmp_path, "BTC", "1h", {})
    assert eth.name == "ETH_1h_20240102T030405123456Z.json"  # the copied pointer names a real file
    _pointer_path(tmp_path, "BTC", "1h").write_bytes(content)
    assert optimized_mod.find_latest_result(tmp_path, "BTC", "1h") == btc


def test_pointer_never_moves_back_to_an_older_stamp(tmp_path: Path) -> None:
    """The clock stepping back: the pointer keeps naming the newest stamp, not the last write."""
    with frozen_clock(optimized_mod, T0 + timedelta(seconds=5), T0):
        newest = optimized_mod.write_result(tmp_path, "BTC", "1h", {"i": 0})
        optimized_mod.write_result(tmp_path, "BTC", "1h", {"i": 1})
    with mock.patch.object(optimized_mod, "_scan_latest", side_effect=AssertionError("scanned")):
        assert optimized_mod.find_latest_result(tmp_path, "BTC", "1h") == newest


def test_read_only_folder_still_found_without_pointer(tmp_path: Path) -> None:
    reference_mod.write_result(tmp_path, "BTC", "1h", {})
    denied = PermissionError(errno.EACCES, "Permission denied")
    with mock.patch.object(optimized_mod, "_advance_pointer", side_effect=denied):
        found = optimized_mod.find_latest_result(tmp_path, "BTC", "1h")
    assert found == reference_mod.find_latest_result(tmp_path, "BTC", "1h")


# -- optimized side: concurrent writers in several processes -----------------------------------
def _write_many(folder: str, writer: int, moments: list, start) -> None:
    """Child process: wait for the start signal, then write one BTC/1h result per moment.

    Each pointer update is slowed by a millisecond between reading the current pointer and
    replacing it, so that an update without the per-key lock or without the stamp comparison
    would lose the race often, not once in a blue moon."""
    import time

    clock = iter(moments)
    optimized_mod._utc_now = lambda: next(clock)
    write_whole = optimized_mod._write_whole

    def slow_pointer_write(directory: str, data: bytes, *, prefix: str) -> str:
        if os.path.basename(directory) == optimized_mod.POINTER_DIR:
            time.sleep(0.002)
        return write_whole(directory, data, prefix=prefix)

    optimized_mod._write_whole = slow_pointer_write
    start.wait()
    for seq in range(len(moments)):
        optimized_mod.write_result(folder, "BTC", "1h", {"writer": writer, "seq": seq})


@pytest.mark.slow
def test_concurrent_writers_lose_nothing_and_pointer_names_newest(tmp_path: Path) -> None:
    """4 processes x 50 writes of one key, stamps in shuffled order and shared by pairs of
    writers (names collide across processes): every result is kept, a concurrent reader never
    sees half a file nor the newest result going backwards, and the pointer ends at the newest."""
    writers, per_writer = 4, 50
    schedules = []
    for w in range(writers):
        moments = [T0 + timedelta(milliseconds=i, microseconds=w // 2) for i in range(per_writer)]
        if w == 0:
            moments.reverse()  # one writer going back in time: its first write stays the newest
        schedules.append(moments)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), w, schedules[w], start))
             for w in range(writers)]
    for p in procs:
        p.start()
    start.set()
    seen: list[str] = []
    while any(p.is_alive() for p in procs):
        try:
            found = optimized_mod.find_latest_result(tmp_path, "BTC", "1h")
        except FileNotFoundError:
            continue
        assert set(json.loads(found.read_bytes())) == {"writer", "seq"}
        if not seen or seen[-1] != found.name:
            seen.append(found.name)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    names = result_files(tmp_path)
    assert len(names) == writers * per_writer
    assert sum("Z_000001" in n for n in names) == per_writer * writers // 2  # shared stamps, kept
    got = sorted((d["writer"], d["seq"]) for d in (json.loads((tmp_path / n).read_bytes()) for n in names))
    assert got == [(w, s) for w in range(writers) for s in range(per_writer)]
    assert seen == sorted(seen), "the newest result went backwards"
    newest = tmp_path / max(names)
    assert optimized_mod.find_latest_result(tmp_path, "BTC", "1h") == newest
    assert reference_mod.find_latest_result(tmp_path, "BTC", "1h") == newest


# -- the pair -----------------------------------------------------------------------------------
def _pair():
    (pair,) = select(["results_lookup"])
    return pair


def test_pair_is_registered_and_check_passes_on_its_workload() -> None:
    pair = _pair()
    assert pair.max_slope == 0.2 and pair.default_size == 10000 and pair.quick_size == 1000
    with pair.workload(100, 0) as work:
        ref_out = pair.bind_side("reference", work.inputs)()
        opt_out = pair.bind_side("optimized", work.inputs)()
        pair.check(ref_out, opt_out)
        assert ref_out.name.startswith("BTC_1h_raw_")
        # near-misses really are there: BTC/1h files next to the queried BTC/1h_raw
        names = os.listdir(work.inputs.results_dir)
        assert any(n.startswith("BTC_1h_2") for n in names)
        assert sum(n.endswith(".json") for n in names) == 100
    assert not os.path.exists(work.inputs.results_dir)


def test_pair_check_rejects_a_different_path() -> None:
    pair = _pair()
    right = Path("/results/BTC_1h_raw_20240102T030405123456Z.json")
    with pytest.raises(NotEquivalent, match="reference="):
        pair.check(right, right.with_name("BTC_1h_20240102T030405123456Z.json"))
