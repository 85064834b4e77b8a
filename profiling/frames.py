"""Name frames the same way whatever profiler saw them: ``module.qualname``.

cProfile knows (file, first line, co_name), pyinstrument (co_name, file, first line, class),
py-spy (qualname, file); C functions come as ``<method 'commit' of 'sqlite3.Connection' objects>``
(cProfile) or ``Connection.commit`` in ``<built-in>`` (pyinstrument). All become
``sqlite3.Connection.commit`` / ``reference.dedup_store.NoDupeGuard.add``, so stacks from
different profilers, and from the two sides of a pair, can be compared by name.
"""
from __future__ import annotations

import os
import re
import sys
import types
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Mapping, Optional

_BUILTIN_METHOD = re.compile(r"^<method '(?P<attr>[^']+)' of '(?P<owner>[^']+)' objects>$")
_BUILTIN_FUNCTION = re.compile(r"^<built-in method (?P<name>[^>]+)>$")
_FROZEN = re.compile(r"^<frozen (?P<module>[\w.]+)>$")
#: C classes whose methods are better known by another name (torch's functional ops)
_C_CLASS_ALIASES = {"_VariableFunctionsClass": "torch"}
_BUILTIN_KINDS = (types.BuiltinFunctionType, types.MethodDescriptorType,
                  types.WrapperDescriptorType, types.ClassMethodDescriptorType,
                  types.MethodWrapperType)


def loaded_module_files() -> dict[str, str]:
    """``{real path of a loaded module's file: module name}`` from ``sys.modules``."""
    out: dict[str, str] = {}
    for name, mod in list(sys.modules.items()):
        filename = getattr(mod, "__file__", None)
        if not filename or name == "__main__":
            continue
        key = os.path.realpath(filename)
        if key not in out or len(name) < len(out[key]):
            out[key] = name
    return out


@lru_cache(maxsize=None)
def _qualnames_in(filename: str) -> Mapping[tuple[int, str], str]:
    """``{(first line, co_name): co_qualname}`` for every function defined in a source file."""
    try:
        source = Path(filename).read_text(encoding="utf-8")
        code = compile(source, filename, "exec", dont_inherit=True)
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return {}
    out: dict[tuple[int, str], str] = {}

    def walk(co: types.CodeType) -> None:
        for const in co.co_consts:
            if isinstance(const, types.CodeType):
                out.setdefault((const.co_firstlineno, const.co_name),
                               getattr(const, "co_qualname", const.co_name))
                walk(const)

    walk(code)
    return out


def _iter_modules() -> Iterator[tuple[str, types.ModuleType]]:
    yield "builtins", sys.modules["builtins"]
    for name in sorted(sys.modules):
        mod = sys.modules.get(name)
        if isinstance(mod, types.ModuleType) and name != "builtins":
            yield name, mod


@lru_cache(maxsize=4096)
def _builtin_owner(name: str) -> Optional[str]:
    """The module of a C function named ``Type.method`` or ``function`` among loaded modules."""
    head, _, attr = name.rpartition(".")
    for modname, mod in _iter_modules():
        try:
            if head:
                owner = getattr(mod, head, None)
                if isinstance(owner, type) and isinstance(owner.__dict__.get(attr), _BUILTIN_KINDS):
                    return owner.__module__ or modname
            else:
                fn = mod.__dict__.get(attr)
                if isinstance(fn, types.BuiltinFunctionType):
                    return getattr(fn, "__module__", None) or modname
        except Exception:  # an odd module (lazy loaders) must not break naming
            continue
    return None


def builtin_name(text: str) -> str:
    """A cProfile C-function label as ``module.Type.method`` / ``module.function``."""
    m = _BUILTIN_METHOD.match(text)
    if m:
        return f"{m['owner']}.{m['attr']}"
    m = _BUILTIN_FUNCTION.match(text)
    if m:
        return m["name"]
    return text


class FrameNamer:
    """Turns profiler frame records into ``module.qualname`` strings.

    ``module_files`` maps real file paths to module names: by default the modules loaded in this
    process; the py-spy child sends its own map, since its frames are from another process.
    """

    def __init__(self, module_files: Optional[Mapping[str, str]] = None) -> None:
        self.module_files = dict(loaded_module_files() if module_files is None else module_files)
        self._search_path = sorted((os.path.realpath(p) for p in sys.path if p), key=len, reverse=True)
        self._modules: dict[str, str] = {}

    def module_of(self, filename: str) -> str:
        """The dotted module name of a source file (``<frozen x>`` is ``x``; unknown: its stem)."""
        if filename not in self._modules:
            self._modules[filename] = self._module_of(filename)
        return self._modules[filename]

    def _module_of(self, filename: str) -> str:
        m = _FROZEN.match(filename)
        if m:
            return m["module"]
        if filename.startswith("<"):
            return filename
        real = os.path.realpath(filename)
        if real in self.module_files:
            return self.module_files[real]
        for base in self._search_path:
            if real.startswith(base + os.sep):
                rel = Path(real[len(base) + 1:]).with_suffix("")
                parts = [p for p in rel.parts if p]
                if parts and parts[-1] == "__init__":
                    parts = parts[:-1]
                if parts and all(p.isidentifier() for p in parts):
                    return ".".join(parts)
        return Path(filename).stem

    def python(self, filename: str, firstlineno: int, name: str, class_name: Optional[str] = None,
               *, qualified: bool = False) -> str:
        """A Python function's frame name; ``name`` is a co_name (looked up by its first line in
        the source) or, with ``qualified``, already a qualname."""
        qualname = name
        if not qualified and "." not in name and not name.startswith("<module"):
            qualname = _qualnames_in(filename).get((int(firstlineno), name)) or (
                f"{class_name}.{name}" if class_name else name)
        return f"{self.module_of(filename)}.{qualname}"

    def cprofile(self, filename: str, firstlineno: int, name: str) -> str:
        """A pstats key ``(file, line, name)`` as a frame name."""
        if filename == "~" and firstlineno == 0:
            return builtin_name(name)
        return self.python(filename, firstlineno, name)

    def pyinstrument(self, identifier: str) -> str:
        """A pyinstrument frame identifier (``name\\x00file\\x00line`` plus ``\\x01`` attributes)."""
        main, *attrs = identifier.split("\x01")
        name, filename, line = (main.split("\x00") + ["", "0"])[:3]
        if filename == "<built-in>":
            head, _, attr = name.rpartition(".")
            if head in _C_CLASS_ALIASES:
                return f"{_C_CLASS_ALIASES[head]}.{attr}"
            owner = _builtin_owner(name)
            return f"{owner}.{name}" if owner else name
        class_name = next((a[1:] for a in attrs if a.startswith("c")), None)
        try:
            lineno = int(line)
        except ValueError:
            lineno = 0
        return self.python(filename, lineno, name, class_name)
