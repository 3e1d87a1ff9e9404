"""Tuned embedding models: a folder of weights made here, pinned by a manifest and its name.

A catalogue model's hashes are pinned in the code (``catalog.py``); a model tuned on the
organisation's own corpus (``assistant tune``) cannot be, so it pins itself:

- ``manifest.json`` in its folder lists the SHA-256 and size of every other file, the
  model it was tuned from (with that model's weights hash) and the lineage of the run;
- its name ends in the first 16 hex digits (64 bits) of the manifest's own SHA-256:
  ``all-minilm-l6-v2-tuned-1a2b3c4d5e6f7a8b``. Setting ``embedding_model`` to that name
  pins the manifest, and the manifest pins every file.

``verify_tuned`` checks all of it before anything loads the folder: the manifest against
the name, each file against the manifest, and that no file is there that it does not
list (a stray ``pytorch_model.bin`` could be loaded instead). The full hashes are also in
the audit log's ``embedder_tuned`` record.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import ModelError, ModelIntegrityError, ModelNotInstalled
from assistant.models.install import hash_file, verify_file

MANIFEST = "manifest.json"
FORMAT = "tuned-embedding-v1"
DIGEST_CHARS = 16
_NAME = re.compile(
    rf"^(?P<root>[a-z0-9][a-z0-9.\-]*?)-tuned-(?P<digest>[0-9a-f]{{{DIGEST_CHARS}}})$"
)


@dataclass(frozen=True, slots=True)
class TunedModel:
    """A verified tuned model: where it is, what pins it and where it came from."""

    name: str
    path: Path
    manifest_sha256: str
    weights_sha256: str
    base: str
    base_weights_sha256: str
    files: Mapping[str, str] = field(default_factory=dict)  # relpath -> sha256
    lineage: Mapping[str, Any] = field(default_factory=dict)


def is_tuned(name: str) -> bool:
    return _NAME.match(name) is not None


def root_of(name: str) -> str:
    """``all-minilm-l6-v2`` for a catalogue name and for any model tuned from it."""
    match = _NAME.match(name)
    return match["root"] if match else name


def tuned_names(models_dir: Path) -> list[str]:
    """The tuned models present in ``models_dir`` (not verified: ``verify_tuned`` does)."""
    if not models_dir.is_dir():
        return []
    return sorted(
        p.name for p in models_dir.iterdir() if is_tuned(p.name) and (p / MANIFEST).is_file()
    )


def _files_in(folder: Path) -> list[str]:
    """Every file under ``folder`` but its manifest, as relative POSIX paths."""
    found = (p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return sorted(rel for rel in found if rel != MANIFEST)


def install_tuned(
    work: Path,
    models_dir: Path,
    *,
    base: str,
    base_weights_sha256: str,
    weights: str,
    lineage: Mapping[str, Any],
) -> TunedModel:
    """Write ``work``'s manifest, name the model after it and move it into ``models_dir``.

    ``work`` must be on the same file system (a temporary folder in ``models_dir``): the
    model appears whole under its name, or not at all.
    """
    files = {rel: {"sha256": hash_file(work / rel), "size": (work / rel).stat().st_size}
             for rel in _files_in(work)}  # fmt: skip
    if weights not in files:
        raise ModelError(f"the tuned model in {work} has no weights file {weights!r}")
    body = {
        "format": FORMAT,
        "base": {"name": base, "weights_sha256": base_weights_sha256},
        "weights": weights,
        "files": files,
        "lineage": dict(lineage),
    }
    data = (json.dumps(body, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()
    (work / MANIFEST).write_bytes(data)
    name = f"{root_of(base)}-tuned-{hashlib.sha256(data).hexdigest()[:DIGEST_CHARS]}"
    for p in [work, *work.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)  # the service user must read it
    dest = models_dir / name
    if dest.exists():  # the same manifest: the same files, already there
        shutil.rmtree(work)
    else:
        os.replace(work, dest)
    return verify_tuned(name, models_dir)


def _refused(path: Path, what: str) -> ModelIntegrityError:
    return ModelIntegrityError(
        f"the tuned model {path.name} {what}",
        hint="do not load it: restore the folder from a backup or tune again "
        "(`assistant tune`); the audit log's embedder_tuned record holds every hash",
    )


def verify_tuned(name: str, models_dir: Path) -> TunedModel:
    """Check the manifest against ``name`` and every file against the manifest."""
    match = _NAME.match(name)
    if match is None:
        raise ModelError(f"{name!r} is not the name of a tuned model (NAME-tuned-<16 hex>)")
    path = models_dir / name
    manifest = path / MANIFEST
    try:
        data = manifest.read_bytes()
    except OSError:
        raise ModelNotInstalled(
            f"tuned model {name!r} is not in {models_dir} (no {MANIFEST})",
            hint="run `assistant tune`, or copy the whole folder, manifest included",
        ) from None
    manifest_sha = hashlib.sha256(data).hexdigest()
    if manifest_sha[:DIGEST_CHARS] != match["digest"]:
        raise _refused(path, f"has a {MANIFEST} that is not the one its name pins (changed?)")
    try:
        body = json.loads(data)
        files = {rel: (str(f["sha256"]), int(f["size"])) for rel, f in body["files"].items()}
        weights, base = str(body["weights"]), body["base"]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _refused(path, f"has an unreadable {MANIFEST}: {exc}") from None
    on_disk = set(_files_in(path))
    if unlisted := sorted(on_disk - set(files)):
        raise _refused(path, f"holds files its manifest does not list: {', '.join(unlisted)}")
    if missing := sorted(set(files) - on_disk):
        raise _refused(path, f"lacks files its manifest lists: {', '.join(missing)}")
    for rel, (sha, size) in sorted(files.items()):
        if (path / rel).stat().st_size != size:
            raise _refused(path, f"has {rel} of another size than its manifest says")
        try:
            verify_file(path / rel, sha)
        except ModelIntegrityError as exc:
            raise _refused(path, f"has a changed {rel}: {exc.message}") from None
    if weights not in files:
        raise _refused(path, f"names weights {weights!r} it does not hold")
    return TunedModel(
        name=name,
        path=path,
        manifest_sha256=manifest_sha,
        weights_sha256=files[weights][0],
        base=str(base.get("name", "")),
        base_weights_sha256=str(base.get("weights_sha256", "")),
        files={rel: sha for rel, (sha, _) in sorted(files.items())},
        lineage=dict(body.get("lineage") or {}),
    )
