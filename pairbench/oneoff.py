"""One-off costs measured in a fresh interpreter (imports, JIT compiles, first calls), which a
first call inside an already-warm process cannot show."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Mapping, Optional


def timings_in_fresh_process(script: str, *args: str, env: Optional[Mapping[str, str]] = None,
                             timeout: float = 300) -> dict[str, float]:
    """Run ``script`` (Python source) with ``args`` in a new interpreter; its last line of output
    is a JSON object of named timings, which is returned."""
    done = subprocess.run([sys.executable, "-c", script, *args], env=dict(os.environ, **(env or {})),
                          capture_output=True, text=True, timeout=timeout, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])
