"""Trial files: one JSON file per finished trial, saved atomically, loaded back as a dict.

The naive reference: ``os.listdir`` plus a ``stat`` per name, ``json.load`` per file (text
mode), then a second pass that validates every parsed trial.

Files
-----
``save_trial(trials_dir, trial) -> Path`` writes ``trial`` to ``trials_dir/trial_{number:06d}.json``
(creating ``trials_dir`` if needed) as indented UTF-8 JSON: first to a temporary file in the same
folder (``.{name}.{random}.tmp``), flushed and fsynced, then moved over the final name with
``os.replace``, so a reader never sees half a file. An existing file of that number is replaced.
The trial is written as given (an optional key left out stays out of the file).

``load_trials(trials_dir, *, on_error="raise") -> dict[str, dict]`` reads every *trial file* of
``trials_dir``: a regular file (or a link to one) whose name ends in ``.json`` and does not start
with ``.`` (temporary files, editor backups and other names are ignored). The result maps each
file's stem (``"trial_000042"``) to the trial dict exactly as parsed, in order of file name,
except that an optional key the file leaves out is read as null (added with the value ``None``).

A trial
-------
A JSON object with at least these keys (``REQUIRED_KEYS``; more are kept as they are):
``number`` (int >= 0, not a bool), ``params`` (object), ``value`` (finite number or null),
``state`` (one of ``STATES``), ``user_attrs`` (object). The ``OPTIONAL_KEYS``
``datetime_start`` and ``datetime_complete`` are null or an ISO 8601 string that
``datetime.fromisoformat`` reads; a trial may leave them out (minimal trials, written by hand or in
tests), and they are then read as null.

A file is *corrupt* when it cannot be read, is not UTF-8, is not JSON (truncated, empty, a BOM,
``NaN``/``Infinity`` tokens: strict JSON only) or its trial breaks a rule above. With
``on_error="raise"`` the first corrupt file in name order raises :class:`TrialFileError` (a
``ValueError``) naming it; with ``on_error="skip"`` each corrupt file is left out with a
:class:`TrialFileWarning` naming it, in name order. Numbers are read as Python's ``json`` reads
them: ints exactly (any size), floats correctly rounded; a float literal past the double range
reads as ``inf`` (allowed in ``params``/``user_attrs``, not in ``value``).

Saving refuses (nothing is written): ``trial`` not a dict, a rule above broken, a value that is
not JSON (a datetime, a set, a non-``str`` key), a float that is NaN or infinite anywhere, or a
string with a lone surrogate (not UTF-8): ``TypeError``/``ValueError`` naming ``trial[...]``.

Other errors: ``trials_dir`` not a path (``TypeError``), missing (``FileNotFoundError``) or not a
directory (``NotADirectoryError``), each naming ``trials_dir``; ``on_error`` not ``"raise"`` or
``"skip"``: ``ValueError`` naming ``on_error``.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, Optional, Union

__all__ = ["load_trials", "save_trial", "TrialFileError", "TrialFileWarning", "STATES",
           "REQUIRED_KEYS", "OPTIONAL_KEYS", "trial_problem", "trial_file_name"]

STATES = ("RUNNING", "WAITING", "COMPLETE", "PRUNED", "FAIL")
REQUIRED_KEYS = ("number", "params", "value", "state", "user_attrs")
#: keys a trial may leave out; absent, they read as null
OPTIONAL_KEYS = ("datetime_start", "datetime_complete")
ON_ERROR = ("raise", "skip")

PathLike = Union[str, "os.PathLike[str]"]


class TrialFileError(ValueError):
    """A trial file that cannot be loaded; ``path`` is the file, ``reason`` what is wrong."""

    def __init__(self, path: PathLike, reason: str) -> None:
        super().__init__(f"{os.fspath(path)}: {reason}")
        self.path = Path(path)
        self.reason = reason


class TrialFileWarning(UserWarning):
    """A corrupt trial file left out by ``load_trials(..., on_error="skip")``."""


# -- shared rules ---------------------------------------------------------------------------
def trial_file_name(number: int) -> str:
    """The file name ``save_trial`` gives trial ``number``."""
    return f"trial_{number:06d}.json"


def is_trial_file_name(name: str) -> bool:
    """Whether a directory entry's name is a trial file's (``*.json``, not hidden or temporary)."""
    return name.endswith(".json") and not name.startswith(".")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _iso_problem(value: Any) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        return f"must be null or an ISO 8601 string, got {type(value).__name__}"
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return f"must be null or an ISO 8601 string, got {value!r}"
    return None


def trial_problem(trial: Any) -> Optional[str]:
    """What makes ``trial`` break the rules of a trial (see the module docstring), or None."""
    if not isinstance(trial, dict):
        return f"a trial must be a JSON object, got {type(trial).__name__}"
    missing = [key for key in REQUIRED_KEYS if key not in trial]
    if missing:
        return f"missing keys: {', '.join(missing)}"
    number = trial["number"]
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        return f"number: must be an int >= 0, got {number!r}"
    for key in ("params", "user_attrs"):
        if not isinstance(trial[key], dict):
            return f"{key}: must be an object, got {type(trial[key]).__name__}"
    value = trial["value"]
    if value is not None and not (_is_number(value) and math.isfinite(value)):
        return f"value: must be a finite number or null, got {value!r}"
    state = trial["state"]
    if state not in STATES or not isinstance(state, str):
        return f"state: must be one of {', '.join(STATES)}, got {state!r}"
    for key in OPTIONAL_KEYS:
        problem = _iso_problem(trial.get(key))
        if problem:
            return f"{key}: {problem}"
    return None


def with_optional_keys(trial: dict) -> dict:
    """``trial`` (a freshly parsed one, changed in place) with each absent optional key set to
    None; a trial that has them all comes back untouched."""
    for key in OPTIONAL_KEYS:
        if key not in trial:
            trial[key] = None
    return trial


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"not valid JSON: {name} is not strict JSON")


def parse_trial_text(text: str) -> Any:
    """Strict JSON (no NaN/Infinity) with Python's ``json``; ValueError says what is wrong."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError("not valid JSON: nested too deeply") from None


def json_problem(value: Any, where: str) -> Optional[tuple[str, type]]:
    """Where ``value`` holds something strict JSON cannot write: (message, exception type)."""
    if isinstance(value, str):
        if value.isascii():
            return None
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{where}: not valid Unicode text (a lone surrogate)", ValueError
        return None
    if value is None or isinstance(value, (bool, int)):
        return None
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return f"{where}: must be finite, got {value!r}", ValueError
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where}: key {key!r} must be a str, got {type(key).__name__}", TypeError
            found = json_problem(key, f"{where}: key") or json_problem(item, f"{where}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = json_problem(item, f"{where}[{index}]")
            if found:
                return found
        return None
    return f"{where}: not a JSON value ({type(value).__name__})", TypeError


def check_trial_to_save(trial: Any) -> None:
    """Raise the TypeError/ValueError naming ``trial[...]`` that ``save_trial`` refuses with."""
    if not isinstance(trial, dict):
        raise TypeError(f"trial: must be a dict, got {type(trial).__name__}")
    found = json_problem(trial, "trial")
    if found:
        message, error = found
        raise error(message)
    problem = trial_problem(trial)
    if problem:
        raise ValueError(f"trial: {problem}")


def trials_folder(trials_dir: Any, *, must_exist: bool = True) -> Path:
    """``trials_dir`` as a Path, refused with an error naming it when it is no usable folder."""
    if not isinstance(trials_dir, (str, os.PathLike)):
        raise TypeError(f"trials_dir: must be a path, got {type(trials_dir).__name__}")
    folder = Path(trials_dir)
    if must_exist and not folder.exists():
        raise FileNotFoundError(f"trials_dir: no such directory: {os.fspath(folder)}")
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"trials_dir: not a directory: {os.fspath(folder)}")
    return folder


def check_on_error(on_error: Any) -> None:
    if on_error not in ON_ERROR or not isinstance(on_error, str):
        raise ValueError(f"on_error: must be 'raise' or 'skip', got {on_error!r}")


def report(error: TrialFileError, on_error: str) -> None:
    """Raise ``error`` or, when skipping, warn with it."""
    if on_error == "raise":
        raise error
    warnings.warn(f"skipping corrupt trial file {error}", TrialFileWarning, stacklevel=3)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a fsynced temporary file and ``os.replace``."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise


# -- the reference ----------------------------------------------------------------------------
def save_trial(trials_dir: PathLike, trial: dict) -> Path:
    """Write ``trial`` atomically to ``trials_dir/trial_{number:06d}.json``; return that path."""
    folder = trials_folder(trials_dir, must_exist=False)
    check_trial_to_save(trial)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / trial_file_name(trial["number"])
    text = json.dumps(trial, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    write_atomically(path, text.encode("utf-8"))
    return path


def load_trials(trials_dir: PathLike, *, on_error: str = "raise") -> dict[str, dict]:
    """Every trial file of ``trials_dir`` by file stem, in name order (see the module docstring)."""
    folder = trials_folder(trials_dir)
    check_on_error(on_error)
    names = sorted(name for name in os.listdir(folder)
                   if is_trial_file_name(name) and os.path.isfile(folder / name))

    # pass 1: parse every file
    parsed: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name in names:
        try:
            with open(folder / name, encoding="utf-8") as fh:
                parsed[name] = parse_trial_text(fh.read())
        except UnicodeDecodeError:
            problems[name] = "not UTF-8 text"
        except OSError as exc:
            problems[name] = f"cannot be read: {exc.strerror or exc}"
        except ValueError as exc:
            problems[name] = str(exc)

    # pass 2: validate every parsed trial
    for name, trial in parsed.items():
        problem = trial_problem(trial)
        if problem:
            problems[name] = problem

    trials: dict[str, dict] = {}
    for name in names:
        if name in problems:
            report(TrialFileError(folder / name, problems[name]), on_error)
        else:
            trials[name[:-len(".json")]] = with_optional_keys(parsed[name])
    return trials
