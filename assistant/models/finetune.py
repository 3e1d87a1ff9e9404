"""Fine-tune a sentence-transformers model on (question, passage) pairs, on the CPU.

The loss is ``MultipleNegativesRankingLoss``: in a batch of n pairs, each question
must score its own passage above the n-1 others (in-batch negatives), so no labelled
negatives are needed. A passage appears once per run (one question per sampled chunk),
so a batch never holds a copy of a question's own passage as a "negative".

A plain PyTorch loop rather than ``SentenceTransformerTrainer`` / ``model.fit``: both
need the ``datasets`` package (and the trainer ``accelerate``), which the assistant does
not install for a loop this small. The loss, the model's own tokenisation
(``preprocess``) and its ``save`` are sentence-transformers'; the optimiser is AdamW with
a linear warm-up over the first tenth of the steps and a linear decay, gradients clipped
at 1, seeded: the same pairs and seed give the same weights on the same machine.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import ModelError

#: (steps done, steps in all, loss of the last step)
Progress = Callable[[int, int, float], None]


@dataclass(frozen=True, slots=True)
class TrainReport:
    epochs: int
    batch_size: int
    learning_rate: float
    steps: int
    #: mean loss of each epoch, in order: the first against the last says it learned
    epoch_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0


def batches(n: int, batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of indices; a last batch of one (no negative to learn from) is
    folded into the one before."""
    order = list(range(n))
    rng.shuffle(order)
    out = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if len(out) > 1 and len(out[-1]) < 2:
        out[-2].extend(out.pop())
    return out


def finetune(
    source_dir: Path,
    pairs: Sequence[tuple[str, str]],
    out_dir: Path,
    *,
    epochs: int = 1,
    batch_size: int = 16,
    learning_rate: float = 2e-5,
    seed: int = 0,
    progress: Progress | None = None,
) -> TrainReport:
    """Train the model in ``source_dir`` (verified by the caller) on ``pairs`` of
    (question, passage) and save it to ``out_dir``; the source folder is not changed."""
    if len(pairs) < 2:
        raise ModelError("fine-tuning needs at least two (question, passage) pairs")
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    started = time.perf_counter()
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model: Any = SentenceTransformer(str(source_dir), device="cpu", local_files_only=True)
    loss_fn = MultipleNegativesRankingLoss(model)
    plan = [batches(len(pairs), batch_size, rng) for _ in range(epochs)]
    total = sum(len(p) for p in plan)
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    warmup = max(1, total // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup))),
    )
    model.train()
    if progress is not None:
        progress(0, total, 0.0)
    epoch_loss: list[float] = []
    step = 0
    for epoch_batches in plan:
        losses: list[float] = []
        for batch in epoch_batches:
            questions = model.preprocess([pairs[i][0] for i in batch])
            passages = model.preprocess([pairs[i][1] for i in batch])
            loss = loss_fn([questions, passages], torch.empty(0))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            step += 1
            losses.append(float(loss.detach()))
            if progress is not None:
                progress(step, total, losses[-1])
        epoch_loss.append(sum(losses) / len(losses))
    model.eval()
    model.save(str(out_dir), create_model_card=False)
    return TrainReport(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        steps=total,
        epoch_loss=[round(x, 6) for x in epoch_loss],
        seconds=round(time.perf_counter() - started, 2),
    )
