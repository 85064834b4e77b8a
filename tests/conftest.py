"""Shared fixtures: the demo plugin distribution (a user's own pair, registered by entry point)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_DIR = Path(__file__).resolve().parent / "plugin_demo"


@pytest.fixture
def plugin_path(monkeypatch):
    """Put the demo plugin distribution (pb_demo + its .dist-info entry point) on sys.path."""
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    for mod in [m for m in sys.modules if m == "pb_demo" or m.startswith("pb_demo.")]:
        del sys.modules[mod]
    yield PLUGIN_DIR


@pytest.fixture
def plugin_env():
    """Environment for a subprocess that should see the demo plugin (pairbench CLI, asv)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGIN_DIR), env.get("PYTHONPATH")]))
    env["ASV_PYTHONPATH"] = str(PLUGIN_DIR)
    return env
