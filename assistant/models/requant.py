"""The GGUF a chat model is served from: the packaged one, or its pinned re-quantisation.

Why: llama.cpp has fast CPU kernels (tinyBLAS, repacked layouts) for Q8_0, Q4_0 and the
K-quants, not for Q4_1. SmolLM2-135M ships only in Q4_1, so its prompts were read at
~360 tok/s on 2 AVX-512 cores; the same weights in Q8_0 are read at ~780 tok/s, and one
answer decodes as fast (docs/BENCHMARKS.md). Q8_0 rounds each weight to 1/254 of its
block's largest, far finer than Q4_1's own steps of 1/15 of the block's range: perplexity
on 2,000 tokens of git's manuals 18.98 against 18.86. Q4_0, faster still, gives 23.3.

How: ``llama_model_quantize`` in a child process (native code: a crash there fails the
step, not the caller), into a temp file beside the target, moved into place only when
its SHA-256 is the one the catalogue pins. The quantiser is deterministic for one build
of llama.cpp; a build that writes other bytes (another compiler's float rounding) is
not trusted: the model is then served from its packaged file, and ``ensure`` says so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from assistant.errors import ModelIntegrityError
from assistant.models.catalog import CATALOG, ModelSpec
from assistant.models.install import hash_file, model_dir, verify_installed, verify_stamped

#: llama.cpp's ``LLAMA_FTYPE_MOSTLY_*`` codes
FTYPES = {"Q8_0": 7}


def stamp_path(spec: ModelSpec, models_dir: Path) -> Path:
    """Where the last good check of ``spec``'s re-quantised file is recorded."""
    return models_dir / f".{spec.name}.requantised.verified.json"


def serving_file(spec: ModelSpec, models_dir: Path) -> tuple[Path, str]:
    """The GGUF to load for ``spec`` and its pinned SHA-256: the re-quantised file when
    this machine made it, else the packaged one. Both are verified first."""
    source = verify_installed(spec, models_dir)
    if spec.requantised is None:
        return source, spec.files[0].sha256
    derived = model_dir(spec, models_dir) / spec.requantised.file.relpath
    if not derived.is_file():
        return source, spec.files[0].sha256
    pinned = spec.requantised.file.sha256
    try:
        verify_stamped(derived, pinned, stamp_path(spec, models_dir))
    except ModelIntegrityError as exc:
        exc.hint = f"delete {derived} or run `assistant models install {spec.name} --force`"
        raise
    return derived, pinned


def served_hashes(names: Iterable[str], models_dir: Path) -> dict[str, str]:
    """The SHA-256 of the file each catalogued model of ``names`` is served from: what an
    eval's answers came from (a re-quantised file is other weights than the packaged one)."""
    return {n: serving_file(CATALOG[n], models_dir)[1] for n in names if n in CATALOG}


def ensure(spec: ModelSpec, models_dir: Path, *, force: bool = False) -> str | None:
    """Make ``spec``'s re-quantised file if it has one and it is missing (or ``force``);
    returns what was done, for the user, or None when there is nothing to do. A file
    already there is checked where it is served from (``serving_file``)."""
    want = spec.requantised
    if want is None:
        return None
    target = model_dir(spec, models_dir) / want.file.relpath
    if target.is_file() and not force:
        return None
    source = verify_installed(spec, models_dir)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        done = subprocess.run(
            [sys.executable, "-m", __name__, str(source), str(tmp), want.ftype],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return f"not re-quantised to {want.ftype} (llama.cpp: {tail[0]}); serving {source.name}"
        actual = hash_file(tmp)
        if actual != want.file.sha256:
            return (
                f"not re-quantised to {want.ftype}: this build of llama.cpp wrote SHA-256 "
                f"{actual[:12]}…, not the pinned {want.file.sha256[:12]}…; serving {source.name}"
            )
        tmp.chmod(0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return f"re-quantised to {want.ftype} -> {target} ({want.why})"


def _quantize(source: str, target: str, ftype: str) -> int:
    import ctypes

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[ftype]
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 1
    return int(
        llama_cpp.llama_model_quantize(source.encode(), target.encode(), ctypes.byref(params))
    )


if __name__ == "__main__":  # python -m assistant.models.requant SOURCE TARGET FTYPE
    sys.exit(_quantize(*sys.argv[1:4]))
