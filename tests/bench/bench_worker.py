"""Benchmark area ``worker``: what running the model in its own process costs.

The same answering service, retriever and questions, once with the GGUF model in
this process (``LlamaGenerator``, as before the worker split) and once in its
worker process (``ModelWorker``, as the server runs it), rounds interleaved so drift
hits both alike. Each side reads the system prompt into its KV cache first, as the
server's warm-up does. Time to first token and decode rate come from the service's
own timings and the token events.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from assistant.answering.service import AnswerService, DoneEvent, TokenEvent
from assistant.models.llama import LlamaGenerator
from assistant.models.model_worker import ModelWorker
from tests.bench.bench_generation import DEFAULT_MODEL, _server_resources
from tests.bench.core import Context, Figure, Section
from tests.bench.load import QUESTIONS

ROUNDS = 2
MAX_TOKENS = 24


def _ask(service: AnswerService, question: str) -> tuple[float | None, float | None]:
    """(time to first token s, decode tok/s) of one answer; None where the model was not
    asked (a gate refused) or wrote too little to time."""
    stamps: list[float] = []
    done: DoneEvent | None = None
    for event in service.stream(question):
        if isinstance(event, TokenEvent):
            stamps.append(time.perf_counter())
        elif isinstance(event, DoneEvent):
            done = event
    if done is None or "first_token_s" not in done.answer.timings:
        return None, None
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 3 else None
    return done.answer.timings["first_token_s"], rate


def run(ctx: Context) -> Section:
    section = Section(key="worker", title="The model in its worker process against in-process")
    model = "smollm2-135m" if ctx.quick else DEFAULT_MODEL
    # huge pages off: a process cannot turn glibc's tunable on for itself once started, so
    # the in-process side could not have them; one answer at a time: the in-process side is
    # the one-at-a-time generator. This area measures the boundary alone
    res, _ = _server_resources(ctx, model, ctx.area_dir("worker"), MAX_TOKENS,
                               model_huge_pages=False, parallel=1)  # fmt: skip
    res.ingestor.ingest([ctx.repo / "data" / "sample"], "bench")
    worker = res.generator
    assert isinstance(worker, ModelWorker)
    worker.load()
    mode = worker.cpu_mode or "plain"
    s = res.settings
    # the very arguments the worker process builds its generator with, in this process
    local = LlamaGenerator(cpu_mode=mode, **worker.supervisor.spec.kwargs)
    services = {
        "worker process": res.answers,
        "in-process": AnswerService(
            res.retriever,
            local,
            max_tokens=MAX_TOKENS,
            context_tokens=s.context_tokens or None,
            system_prompt=res.answers.system_prompt,
        ),
    }
    for service in services.values():
        service.warm_up()
    ttft: dict[str, list[float]] = {k: [] for k in services}
    rate: dict[str, list[float]] = {k: [] for k in services}
    questions = QUESTIONS[:2] if ctx.quick else QUESTIONS
    for r in range(1 if ctx.quick else ROUNDS):
        ctx.log(f"worker: round {r + 1}")
        for q in questions:
            for name, service in services.items():
                first, decode = _ask(service, q)
                if first is not None:
                    ttft[name].append(first)
                if decode is not None:
                    rate[name].append(decode)
    res.close()
    del local
    base: dict[str, Any] = {}
    for what, values, unit in (("time to first token", ttft, "s"), ("decode", rate, "tok/s")):
        inproc = values["in-process"]
        base[what] = statistics.median(inproc) if inproc else None
        for name in services:
            section.add(
                Figure(
                    f"{what}, {name} — {model}",
                    unit,
                    values[name],
                    anchor=base[what] if name == "worker process" else None,
                    anchor_label="in-process, same run",
                )
            )
    section.notes.append(
        f"{len(questions)} questions about data/sample × {ROUNDS} rounds, answers capped at "
        f"{MAX_TOKENS} tokens, CPU mode {mode}, both sides warmed up (system prompt cached); "
        "through AnswerService, without HTTP. Gate refusals are not counted. The worker "
        "starts without huge pages here (ASSISTANT_MODEL_HUGE_PAGES off), as the in-process "
        "side has none, and answers one at a time (PARALLEL 1), as the in-process generator "
        "does: the area measures the process boundary, the generation area the server as it "
        "runs."
    )
    return section
