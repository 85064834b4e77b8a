"""config_cache: one contract run against the reference and the optimized get_default_config."""
from __future__ import annotations

import copy
import json
import os
import pickle
import tempfile
import threading
import time
import tomllib
import types
from pathlib import Path
from typing import Any, Callable, Iterator

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimized import config_cache as opt_mod
from pairbench.pairs.config_cache import realistic_config
from pairbench.registry import NotEquivalent, select
from reference import config_cache as ref_mod
from reference.config_cache import Config, ConfigError

HYPOTHESIS = settings(max_examples=40, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture,
                                             HealthCheck.differing_executors])


def write(path: Path | str, text: str | bytes) -> None:
    """Write in place (same inode), as an editor saving over the file does."""
    with open(path, "wb") as fh:
        fh.write(text.encode() if isinstance(text, str) else text)


def replace(path: Path | str, text: str | bytes) -> None:
    """Write atomically: a temp file next to ``path`` renamed over it (a new inode)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
    with os.fdopen(fd, "wb") as fh:
        fh.write(text.encode() if isinstance(text, str) else text)
    os.replace(tmp, path)


def expected(data: Any) -> dict:
    """What the specification says a file holding ``data`` loads as."""
    return Config.model_validate(data).model_dump()


def spec_outcome(raw: bytes) -> Any:
    """The reference's rule spelled out: json.loads + model_validate + model_dump, or ConfigError."""
    try:
        return Config.model_validate(json.loads(raw)).model_dump()
    except ValueError:
        return ConfigError


def outcome(mod: types.ModuleType, path: Path) -> Any:
    try:
        return mod.get_default_config(path)
    except ConfigError:
        return ConfigError


def config_with(version: int = 3, name: str = "genesis-default") -> str:
    data = Config().model_dump(mode="json")
    data["meta"].update(version=version, name=name)
    return json.dumps(data, indent=2)


# Leaves of the JSON config that fuzzing may overwrite, and values of every JSON kind for them.
LEAF_PATHS = [
    ("meta", "version"), ("meta", "name"), ("meta", "tags"), ("data", "timeframe"),
    ("data", "warmup_bars"), ("data", "adjust_splits"), ("data", "end_date"),
    ("features", "macd_fast"), ("features", "bb_std"), ("features", "ema_periods"),
    ("strategy", "entry_threshold"), ("strategy", "position_sizing"), ("risk", "max_leverage"),
    ("risk", "stop_loss", "atr_multiple"), ("optimizer", "timeout_s"), ("optimizer", "storage"),
    ("optimizer", "search_space"), ("logging", "level"), ("symbols",), ("output", "float_precision"),
]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8)
    | st.sampled_from(["1h", "4h", "kelly", "DEBUG", "5", "2.5", "true", "2030-01-01"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


class ConfigCacheContract:
    """Behaviour both sides share; ``mod`` is the side under test."""

    mod: types.ModuleType = None  # type: ignore[assignment]

    @pytest.fixture
    def cfg_path(self, tmp_path: Path) -> Path:
        path = tmp_path / "config.json"
        write(path, Config().model_dump_json(indent=2))
        return path

    # -- valid files -------------------------------------------------------------------------
    def test_default_config_round_trips(self, cfg_path: Path) -> None:
        got = self.mod.get_default_config(cfg_path)
        assert isinstance(got, dict)
        assert got == Config().model_dump()
        assert got["data"]["timeframe"] is ref_mod.Timeframe.H1
        assert self.mod.get_default_config(str(cfg_path)) == got  # str and PathLike alike

    def test_empty_object_takes_every_default(self, tmp_path: Path) -> None:
        write(tmp_path / "c.json", "{}")
        assert self.mod.get_default_config(tmp_path / "c.json") == Config().model_dump()

    def test_realistic_workload_config(self, tmp_path: Path) -> None:
        data = realistic_config(5, seed=3)
        write(tmp_path / "c.json", json.dumps(data))
        got = self.mod.get_default_config(tmp_path / "c.json")
        assert got == expected(data) and len(got["symbols"]) == 5

    def test_toml_by_suffix(self, tmp_path: Path) -> None:
        text = ('[meta]\nname = "from-toml"\ntags = ["a"]\n[risk.stop_loss]\natr_multiple = 3.5\n'
                '[[symbols]]\nsymbol = "ETH/USDT"\ntimeframe = "4h"\n[[symbols]]\nweight = 0.5\n')
        for name in ("c.toml", "C.TOML"):
            write(tmp_path / name, text)
            assert self.mod.get_default_config(tmp_path / name) == expected(tomllib.loads(text))

    def test_utf8_bom_and_non_ascii(self, tmp_path: Path) -> None:
        text = config_with(name="café ☕")
        write(tmp_path / "c.json", b"\xef\xbb\xbf" + text.encode())
        assert self.mod.get_default_config(tmp_path / "c.json")["meta"]["name"] == "café ☕"

    @HYPOTHESIS
    @given(version=st.integers(1, 10**6), leverage=st.floats(1, 100),
           tf=st.sampled_from([t.value for t in ref_mod.Timeframe]), allow_short=st.booleans(),
           sampler=st.sampled_from(["tpe", "random", "cmaes", "grid", "qmc"]),
           emas=st.lists(st.integers(1, 500), max_size=6), n_symbols=st.integers(0, 4),
           timeout=st.none() | st.integers(1, 10**5), seed=st.integers(0, 1000))
    def test_generated_valid_configs(self, tmp_path: Path, version: int, leverage: float, tf: str,
                                     allow_short: bool, sampler: str, emas: list[int],
                                     n_symbols: int, timeout: int | None, seed: int) -> None:
        data = realistic_config(n_symbols, seed) if n_symbols else Config().model_dump(mode="json")
        data["meta"]["version"] = version
        data["risk"]["max_leverage"] = leverage
        data["data"]["timeframe"] = tf
        data["strategy"]["allow_short"] = allow_short
        data["optimizer"].update(sampler=sampler, timeout_s=timeout)
        data["features"]["ema_periods"] = emas
        path = tmp_path / "generated.json"  # one file rewritten per example: invalidation too
        write(path, json.dumps(data))
        assert self.mod.get_default_config(path) == expected(data)

    @HYPOTHESIS
    @given(where=st.sampled_from(LEAF_PATHS), value=JSON_VALUES)
    def test_fuzzed_values_agree_with_spec(self, tmp_path: Path, where: tuple, value: Any) -> None:
        data = Config().model_dump(mode="json")
        target = data
        for key in where[:-1]:
            target = target[key]
        target[where[-1]] = value
        raw = json.dumps(data).encode()
        path = tmp_path / "fuzzed.json"
        write(path, raw)
        assert outcome(self.mod, path) == spec_outcome(raw)

    @HYPOTHESIS
    @given(cut=st.integers(0, 400), junk=st.sampled_from([b"", b",", b"}", b"\x00", b"\xff", b"NaN"]))
    def test_damaged_bytes_agree_with_spec(self, tmp_path: Path, cut: int, junk: bytes) -> None:
        good = json.dumps(realistic_config(1, 0)).encode()
        raw = good[:cut] + junk + good[cut:] if junk else good[:cut]
        path = tmp_path / "damaged.json"
        write(path, raw)
        assert outcome(self.mod, path) == spec_outcome(raw)

    # -- the file changes --------------------------------------------------------------------
    def test_rewrite_of_another_size_is_seen(self, cfg_path: Path) -> None:
        self.mod.get_default_config(cfg_path)
        write(cfg_path, config_with(version=123456))
        assert self.mod.get_default_config(cfg_path)["meta"]["version"] == 123456

    def test_same_size_rewrite_with_mtime_restored_is_seen(self, cfg_path: Path) -> None:
        write(cfg_path, config_with(version=4))
        time.sleep(0.15)  # let the entry settle: served from the cache on the stamp alone
        before = os.stat(cfg_path)
        assert self.mod.get_default_config(cfg_path)["meta"]["version"] == 4
        assert self.mod.get_default_config(cfg_path)["meta"]["version"] == 4
        write(cfg_path, config_with(version=5))  # same size, same inode
        os.utime(cfg_path, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = os.stat(cfg_path)
        assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
        assert self.mod.get_default_config(cfg_path)["meta"]["version"] == 5

    def test_atomic_replace_same_size_same_mtime_is_seen(self, cfg_path: Path) -> None:
        write(cfg_path, config_with(version=6))
        before = os.stat(cfg_path)
        assert self.mod.get_default_config(cfg_path)["meta"]["version"] == 6
        replace(cfg_path, config_with(version=7))  # new inode, same size
        os.utime(cfg_path, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert os.stat(cfg_path).st_size == before.st_size
        assert self.mod.get_default_config(cfg_path)["meta"]["version"] == 7

    def test_symlink_retargeted_is_seen(self, tmp_path: Path) -> None:
        write(tmp_path / "a.json", config_with(name="a"))
        write(tmp_path / "b.json", config_with(name="b"))
        link = tmp_path / "current.json"
        link.symlink_to("a.json")
        assert self.mod.get_default_config(link)["meta"]["name"] == "a"
        tmp_link = tmp_path / "next.json"
        tmp_link.symlink_to("b.json")
        os.replace(tmp_link, link)
        assert self.mod.get_default_config(link)["meta"]["name"] == "b"

    def test_relative_path_follows_the_working_directory(self, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("one", "two"):
            (tmp_path / name).mkdir()
            write(tmp_path / name / "c.json", config_with(name=name))
        for name in ("one", "two", "one"):
            monkeypatch.chdir(tmp_path / name)
            assert self.mod.get_default_config("c.json")["meta"]["name"] == name

    def test_relative_path_in_a_deleted_working_directory(self, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
        gone = tmp_path / "gone"
        gone.mkdir()
        monkeypatch.chdir(gone)
        gone.rmdir()
        with pytest.raises(FileNotFoundError, match="path: config file not found"):
            self.mod.get_default_config("c.json")

    def test_deleted_file_is_not_served_from_memory(self, cfg_path: Path) -> None:
        self.mod.get_default_config(cfg_path)
        cfg_path.unlink()
        with pytest.raises(FileNotFoundError):
            self.mod.get_default_config(cfg_path)

    def test_failures_are_not_cached(self, cfg_path: Path) -> None:
        good = cfg_path.read_bytes()
        assert self.mod.get_default_config(cfg_path) == Config().model_dump()
        write(cfg_path, good[:-5])
        for _ in range(2):
            with pytest.raises(ConfigError, match="malformed JSON"):
                self.mod.get_default_config(cfg_path)
        write(cfg_path, good)
        assert self.mod.get_default_config(cfg_path) == Config().model_dump()

    # -- mutation ----------------------------------------------------------------------------
    MUTATIONS: list[Callable[[dict], Any]] = [
        lambda c: c.__setitem__("meta", {}),
        lambda c: c["meta"].__setitem__("name", "changed"),
        lambda c: c["symbols"][0].__setitem__("weight", 0.0),
        lambda c: c["symbols"].append({}),
        lambda c: c["symbols"][0]["session_hours"].__setitem__(0, 99),
        lambda c: c["features"]["ema_periods"].sort(reverse=True),
        lambda c: c["features"]["lag_features"].__iadd__([99]),
        lambda c: c["meta"]["tags"].clear(),
        lambda c: c.__delitem__("risk"),
        lambda c: c.update(extra=1),
        lambda c: c.setdefault("extra", 1),
        lambda c: c["optimizer"]["search_space"].pop("risk.max_leverage"),
        lambda c: c["optimizer"]["search_space"]["risk.max_leverage"].__ior__({"low": 0.0}),
        lambda c: c["data"].popitem(),
        lambda c: c["data"].clear(),
    ]

    @pytest.mark.parametrize("mutate", MUTATIONS)
    def test_mutating_a_result_never_changes_the_next(self, cfg_path: Path, mutate: Callable) -> None:
        got = self.mod.get_default_config(cfg_path)
        if self.mod is opt_mod:
            with pytest.raises(TypeError, match=r"read-only.*thaw\(cfg\).*deepcopy"):
                mutate(got)
        else:
            mutate(got)
        assert self.mod.get_default_config(cfg_path) == Config().model_dump()

    def test_mutable_copies(self, cfg_path: Path) -> None:
        got = self.mod.get_default_config(cfg_path)
        for copied in (self.mod.thaw(got), copy.deepcopy(got), pickle.loads(pickle.dumps(got))):
            assert copied == got and type(copied) is dict and type(copied["symbols"]) is list
            copied["meta"]["name"] = "mine"
            copied["symbols"][0]["session_hours"].append(99)
        shallow = dict(got)
        shallow["meta"] = "mine"
        assert self.mod.get_default_config(cfg_path) == Config().model_dump()
        assert json.loads(json.dumps(got)) == Config().model_dump(mode="json")
        assert json.loads(orjson.dumps(got)) == Config().model_dump(mode="json")

    # -- threads -----------------------------------------------------------------------------
    def test_threads_see_whole_configs_while_the_file_is_replaced(self, cfg_path: Path) -> None:
        texts = [config_with(version=11), config_with(version=22), config_with(version=333333)]
        wanted = {json.dumps(expected(json.loads(t)), default=str, sort_keys=True) for t in texts}
        replace(cfg_path, texts[0])
        stop = threading.Event()
        problems: list[str] = []
        calls = [0]

        def reader() -> None:
            while not stop.is_set():
                try:
                    got = self.mod.get_default_config(cfg_path)
                except Exception as exc:  # any error is a failure of the contract
                    problems.append(repr(exc))
                    return
                if json.dumps(got, default=str, sort_keys=True) not in wanted:
                    problems.append(f"torn or foreign config: version {got['meta']['version']}")
                    return
                calls[0] += 1

        threads = [threading.Thread(target=reader) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            for i in range(60):
                replace(cfg_path, texts[i % 3])
                time.sleep(0.005)
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert not problems, problems[:3]
        assert calls[0] > 0

    # -- bad input ---------------------------------------------------------------------------
    @pytest.mark.parametrize("bad", [None, 5, 3.5, b"config.json", ["c.json"], object()])
    def test_path_of_wrong_type(self, bad: Any) -> None:
        with pytest.raises(TypeError, match="^path: expected str or os.PathLike"):
            self.mod.get_default_config(bad)

    def test_pathlike_of_bytes(self, cfg_path: Path) -> None:
        class BytesPath:
            def __fspath__(self) -> bytes:
                return os.fsencode(cfg_path)
        with pytest.raises(TypeError, match="^path: "):
            self.mod.get_default_config(BytesPath())

    @pytest.mark.parametrize("bad", ["", "a\0b.json"])
    def test_empty_or_nul_path(self, bad: str) -> None:
        with pytest.raises(ValueError, match="^path: "):
            self.mod.get_default_config(bad)

    @pytest.mark.parametrize("name", ["missing.json", "no_dir/c.json", "config.json/inner.json"])
    def test_missing_file(self, cfg_path: Path, name: str) -> None:
        path = str(cfg_path.parent / name)
        with pytest.raises(FileNotFoundError, match="path: config file not found") as info:
            self.mod.get_default_config(path)
        assert info.value.filename == path and path in str(info.value)

    def test_directory(self, tmp_path: Path) -> None:
        with pytest.raises(IsADirectoryError, match="path: is a directory") as info:
            self.mod.get_default_config(tmp_path)
        assert info.value.filename == str(tmp_path)

    @pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
    def test_fifo_is_refused_without_blocking(self, tmp_path: Path) -> None:
        os.mkfifo(tmp_path / "pipe.json")
        with pytest.raises(ConfigError, match="not a regular file"):
            self.mod.get_default_config(tmp_path / "pipe.json")

    @pytest.mark.parametrize("text,line,col", [
        ('{"meta": {"name": "x",}}', 1, 23), ("{\n  \"meta\": \n}", 3, 1), ("", 1, 1), ("{} {}", 1, 4),
        ('{"meta": {"name": "a\x01"}}', 1, 21),
    ])
    def test_malformed_json(self, tmp_path: Path, text: str, line: int, col: int) -> None:
        path = tmp_path / "bad.json"
        write(path, text)
        with pytest.raises(ValueError, match=f"malformed JSON at line {line} column {col}") as info:
            self.mod.get_default_config(path)
        assert isinstance(info.value, ConfigError) and str(path) in str(info.value)

    def test_malformed_toml(self, tmp_path: Path) -> None:
        write(tmp_path / "bad.toml", "[meta\nname = 1\n")
        with pytest.raises(ConfigError, match=r"malformed TOML.*line 1") as info:
            self.mod.get_default_config(tmp_path / "bad.toml")
        assert "bad.toml" in str(info.value)

    def test_invalid_utf8(self, tmp_path: Path) -> None:
        write(tmp_path / "bad.toml", b"[meta]\nname = \"\xff\"\n")
        with pytest.raises(ConfigError, match="not valid text"):
            self.mod.get_default_config(tmp_path / "bad.toml")

    @pytest.mark.parametrize("patch,fields", [
        ({"risk": {"max_leverage": 500}}, ["risk.max_leverage"]),
        ({"risk": {"stop_loss": {"kind": "magic", "pct": 2}}}, ["risk.stop_loss.kind", "risk.stop_loss.pct"]),
        ({"symbols": [{}, {"weight": -1, "timeframe": "2h"}]}, ["symbols[1].weight", "symbols[1].timeframe"]),
        ({"optimizer": {"search_space": {"x": {"low": 2, "high": 1}}}}, ["optimizer.search_space.x"]),
        ({"features": {"macd_fast": 30}}, ["features"]),
        ({"strategy": {"entry_threshold": float("nan")}}, ["strategy.entry_threshold"]),
        ({"unknown_section": {}}, ["unknown_section"]),
        ({"meta": "not a section"}, ["meta"]),
    ])
    def test_schema_violation_names_the_fields(self, tmp_path: Path, patch: dict, fields: list) -> None:
        path = tmp_path / "bad.json"
        write(path, json.dumps(patch))
        with pytest.raises(ValueError) as info:
            self.mod.get_default_config(path)
        message = str(info.value)
        assert isinstance(info.value, ConfigError) and message.startswith(f"path: {str(path)!r}")
        for field in fields:
            assert f"{field}:" in message

    def test_document_not_an_object(self, tmp_path: Path) -> None:
        write(tmp_path / "bad.json", "[1, 2]")
        with pytest.raises(ConfigError, match=r"\(root\)"):
            self.mod.get_default_config(tmp_path / "bad.json")


class TestReference(ConfigCacheContract):
    mod = ref_mod

    def test_each_call_is_a_new_plain_dict(self, cfg_path: Path) -> None:
        first, second = ref_mod.get_default_config(cfg_path), ref_mod.get_default_config(cfg_path)
        assert first == second and first is not second and type(first) is dict


class TestOptimized(ConfigCacheContract):
    mod = opt_mod

    @pytest.fixture(autouse=True)
    def _fresh_cache(self) -> Iterator[None]:
        opt_mod.clear_cache()
        yield
        opt_mod.clear_cache()

    def test_results_are_read_only_all_the_way_down(self, cfg_path: Path) -> None:
        got = opt_mod.get_default_config(cfg_path)

        def walk(value: Any) -> Iterator[Any]:
            yield value
            children = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
            for child in children:
                yield from walk(child)

        for node in walk(got):
            assert not isinstance(node, (dict, list)) or isinstance(node, (opt_mod.FrozenDict, opt_mod.FrozenList))
            assert not isinstance(node, (set, bytearray))
        assert got == ref_mod.get_default_config(cfg_path)
        assert type(got.copy()) is dict and type(got | {}) is dict and type(copy.copy(got)) is dict
        assert type(got["symbols"][:]) is list and type(copy.copy(got["symbols"])) is list
        got["meta"]["tags"].__init__(["x"])  # re-running the constructor changes nothing
        got["meta"].__init__(name="x")
        assert got == ref_mod.get_default_config(cfg_path)

    def test_a_settled_hit_is_the_cached_object(self, cfg_path: Path) -> None:
        time.sleep(0.15)
        first = opt_mod.get_default_config(cfg_path)
        assert opt_mod._CACHE[str(cfg_path)].trusted
        assert opt_mod.get_default_config(cfg_path) is first
        opt_mod.clear_cache()
        assert opt_mod.get_default_config(cfg_path) is not first

    def test_a_file_just_written_is_rechecked_by_content(self, cfg_path: Path) -> None:
        write(cfg_path, config_with(version=8))
        opt_mod.get_default_config(cfg_path)
        assert not opt_mod._CACHE[str(cfg_path)].trusted

    @staticmethod
    def freeze_timestamps(monkeypatch: pytest.MonkeyPatch, at_ns: int) -> None:
        """Make the optimized side see a filesystem whose mtime and ctime never move from ``at_ns``
        (a clock too coarse to tell writes apart): only size and inode can change its stamp."""

        def frozen(st: os.stat_result) -> types.SimpleNamespace:
            return types.SimpleNamespace(st_mode=st.st_mode, st_size=st.st_size, st_ino=st.st_ino,
                                         st_dev=st.st_dev, st_mtime_ns=at_ns, st_ctime_ns=at_ns)

        fake_os = types.SimpleNamespace(**{name: getattr(os, name) for name in dir(os) if not name.startswith("__")})
        fake_os.stat = lambda p: frozen(os.stat(p))
        fake_os.fstat = lambda fd: frozen(os.fstat(fd))
        monkeypatch.setattr(opt_mod, "os", fake_os)

    def test_racy_entry_sees_a_same_size_rewrite_in_the_same_tick(self, cfg_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
        """Every write lands in the tick of the first read, so the stamp never moves; the entry is
        racy (read within the window after its ctime), so each call compares its bytes."""
        self.freeze_timestamps(monkeypatch, time.time_ns())
        for version in (1, 2, 3, 2):
            write(cfg_path, config_with(version=version))
            assert opt_mod.get_default_config(cfg_path)["meta"]["version"] == version
            assert not opt_mod._CACHE[str(cfg_path)].trusted

    def test_settled_entry_is_invalidated_by_size_or_inode(self, cfg_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
        """Timestamps a minute old that never move (mtime kept to the second, ctime too): the
        entry is trusted on its stamp, and size (in-place rewrite) or inode (atomic replace) still
        tell a new file apart."""
        self.freeze_timestamps(monkeypatch, (time.time_ns() // 10**9 - 60) * 10**9)
        write(cfg_path, config_with(version=1))
        assert opt_mod.get_default_config(cfg_path)["meta"]["version"] == 1
        assert opt_mod._CACHE[str(cfg_path)].trusted
        write(cfg_path, config_with(version=10))  # in place, one byte longer
        assert opt_mod.get_default_config(cfg_path)["meta"]["version"] == 10
        replace(cfg_path, config_with(version=20))  # same size, new inode
        assert opt_mod.get_default_config(cfg_path)["meta"]["version"] == 20
        assert opt_mod.get_default_config(cfg_path) is opt_mod.get_default_config(cfg_path)

    def test_settling_window_follows_the_timestamp_grain(self) -> None:
        def stamp(ctime_ns: int) -> tuple:
            return (ctime_ns, ctime_ns, 10, 1, 1)

        whole, fine = 1_700_000_000 * 10**9, 1_700_000_000 * 10**9 + 123_456_789
        assert not opt_mod._settled(stamp(fine), fine + 50_000_000)  # within one tick or so
        assert opt_mod._settled(stamp(fine), fine + 200_000_000)
        assert not opt_mod._settled(stamp(whole), whole + 1_500_000_000)  # a clock of whole seconds
        assert opt_mod._settled(stamp(whole), whole + 2_500_000_000)
        assert not opt_mod._settled(stamp(fine + 10**10), fine)  # ctime in the future: never

    def test_cache_is_bounded(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(opt_mod, "MAX_ENTRIES", 2)
        for i in range(5):
            write(tmp_path / f"{i}.json", config_with(version=i + 1))
            assert opt_mod.get_default_config(tmp_path / f"{i}.json")["meta"]["version"] == i + 1
        assert len(opt_mod._CACHE) == 2

    def test_schema_is_the_reference_one(self) -> None:
        assert opt_mod.Config is ref_mod.Config and opt_mod.ConfigError is ref_mod.ConfigError
        assert set(ref_mod.__all__) <= set(opt_mod.__all__)


# -- the pair ------------------------------------------------------------------------------------
def test_pair_is_registered_and_its_check_passes() -> None:
    (pair,) = select(["config_cache"])
    assert pair.default_size in pair.sizes and len(pair.sizes) >= 2 and pair.floor > 1
    opt_mod.clear_cache()
    with pair.workload(2, 0) as work:
        ref_out = pair.bind_side("reference", work.inputs)()
        opt_out = pair.bind_side("optimized", work.inputs)()
        pair.check(ref_out, opt_out)
        assert len(ref_out["symbols"]) == 2 and ref_out != Config().model_dump()
        assert pair.bind_side("optimized", work.inputs)() == ref_out  # the steady state (a hit)
        folder = os.path.dirname(work.inputs)
    assert not os.path.exists(folder)
    with pair.workload(2, 0) as a, pair.workload(2, 0) as b:
        assert Path(a.inputs).read_bytes() == Path(b.inputs).read_bytes()


def test_pair_check_catches_a_perturbed_output() -> None:
    (pair,) = select(["config_cache"])
    with pair.workload(1, 0) as work:
        ref_out = ref_mod.get_default_config(work.inputs)
        bad = opt_mod.thaw(opt_mod.get_default_config(work.inputs))
    bad["risk"]["stop_loss"]["atr_multiple"] += 1e-9
    with pytest.raises(NotEquivalent, match=r"\['risk'\]\['stop_loss'\]\['atr_multiple'\]"):
        pair.check(ref_out, bad)
    bad = copy.deepcopy(ref_out)
    bad["symbols"].pop()
    with pytest.raises(NotEquivalent, match="length"):
        pair.check(ref_out, bad)


def test_one_off_reports_the_cold_call() -> None:
    (pair,) = select(["config_cache"])
    detail = pair.one_off(opt_mod)
    assert list(detail) == ["first call of a path (cache miss)"] and detail["first call of a path (cache miss)"] > 0
