"""``assistant tune``'s work: sample chunks, write questions, fine-tune, pin the result.

1. a seeded sample of chunks (``questions.sample_chunks``), optionally of one collection;
2. one question per chunk from the local chat model (``questions.generate_questions``);
3. a fine-tune of the verified base embedding model on (question, passage) pairs
   (``assistant/models/finetune.py``), into a temporary folder in the models dir;
4. the generated questions saved there as JSON lines (for the record: their key is
   ``generated_question``, so ``assistant eval`` cannot read the file as a dataset);
5. a manifest of every file's SHA-256 and of the lineage, and the folder moved to its
   content-pinned name (``assistant/models/tuned.py``).

Recording the lineage in the audit log and re-embedding the index are the caller's
(``assistant/cli/tune.py``), as for ingest's other work.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.answering.generator import Generator
from assistant.errors import TuningError
from assistant.models.finetune import TrainReport, finetune
from assistant.models.sources import EmbeddingSource
from assistant.models.tuned import TunedModel, install_tuned
from assistant.store.documents import Store
from ingest.tuning.questions import PROMPT, Generated, Pair, generate_questions, sample_chunks

QUESTIONS_FILE = "generated-questions.jsonl"
WEIGHTS = "model.safetensors"
LOSS = "MultipleNegativesRankingLoss (in-batch negatives)"

#: (phase: "questions" or "training", done, total)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class TuneOptions:
    sample: int = 200
    seed: int = 0
    collection: str | None = None
    epochs: int = 1
    batch_size: int = 16
    learning_rate: float = 2e-5


@dataclass(frozen=True, slots=True)
class TuneReport:
    model: TunedModel
    generated: Generated
    training: TrainReport
    lineage: dict[str, Any] = field(default_factory=dict)


def tune_embedder(
    store: Store,
    generator: Generator,
    base: EmbeddingSource,
    models_dir: Path,
    options: TuneOptions,
    *,
    progress: Progress | None = None,
    questions_done: Callable[[], None] | None = None,
) -> TuneReport:
    """Tune ``base`` on questions ``generator`` writes for a sample of ``store``'s chunks.

    ``questions_done`` runs between the questions and the training: the CLI stops the
    chat model's worker there, so both models are never in memory together.
    """
    tell = progress or (lambda _phase, _done, _total: None)
    chunks = sample_chunks(store, options.sample, seed=options.seed, collection=options.collection)
    generated = generate_questions(
        generator, chunks, progress=lambda done, total, _kept: tell("questions", done, total)
    )
    if questions_done is not None:
        questions_done()
    if len(generated.pairs) < 2:
        where = f"collection {options.collection!r}" if options.collection else "the index"
        raise TuningError(
            f"{len(generated.pairs)} usable question(s) from {len(chunks)} chunk(s) of {where}: "
            "too few to tune on",
            hint="ingest more documents, raise --sample, or use a larger chat model (--model)",
        )
    models_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".tune-", dir=models_dir))
    try:
        training = finetune(
            base.path,
            [(p.question, p.passage) for p in generated.pairs],
            work,
            epochs=options.epochs,
            batch_size=options.batch_size,
            learning_rate=options.learning_rate,
            seed=options.seed,
            progress=lambda step, total, _loss: tell("training", step, total),
        )
        _write_questions(work / QUESTIONS_FILE, generated.pairs)
        lineage = _lineage(base, generator, options, len(chunks), generated, training)
        tuned = install_tuned(
            work,
            models_dir,
            base=base.name,
            base_weights_sha256=base.weights_sha256,
            weights=WEIGHTS,
            lineage=lineage,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)  # gone already once installed
    return TuneReport(tuned, generated, training, lineage)


def _write_questions(path: Path, pairs: list[Pair]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for p in pairs:
            row = {
                "generated_question": p.question,
                "chunk_id": p.chunk_id,
                "vid": p.vid,
                "doc_id": p.doc_id,
                "collection": p.collection,
                "use": "training only: never evaluate on these",
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _lineage(
    base: EmbeddingSource,
    generator: Generator,
    options: TuneOptions,
    sampled: int,
    generated: Generated,
    training: TrainReport,
) -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "base": {
            "name": base.name,
            "weights_sha256": base.weights_sha256,
            "manifest_sha256": base.manifest_sha256,  # a base that was itself tuned
        },
        "chat_model": {"name": generator.name, "sha256": getattr(generator, "sha256", None)},
        "prompt": PROMPT,
        "collection": options.collection,
        "sample": options.sample,
        "sampled": sampled,
        "seed": options.seed,
        "pairs": len(generated.pairs),
        "skipped": dict(sorted(generated.skipped.items())),
        "loss": LOSS,
        "epochs": training.epochs,
        "batch_size": training.batch_size,
        "learning_rate": training.learning_rate,
        "steps": training.steps,
        "epoch_loss": training.epoch_loss,
        "train_seconds": training.seconds,
        "questions_file": QUESTIONS_FILE,
        "libraries": {p: version(p) for p in ("sentence-transformers", "transformers", "torch")},
    }
