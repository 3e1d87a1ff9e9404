"""Continuous batching with the real tiny model (smollm2-135m): several answers decoded
together are the answers each prompt gets alone; one joins mid-way, one is cancelled,
Arabic comes out whole; and the same through the model's worker process.

Greedy answers are compared exactly. llama.cpp's kernels may round a batch of rows
differently from one row, so a question whose next token is a near tie can flip
(as a reused KV prefix can flip it in the one-at-a-time generator): the questions
here have clear answers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.errors import ModelCrashed
from assistant.models.batched import BatchedLlamaGenerator
from assistant.models.batching import PREFILL_CHUNK, Sequence
from assistant.models.llama import LlamaGenerator
from assistant.models.model_worker import BATCHED_FACTORY, model_worker
from assistant.settings import Settings
from tests.conftest import IN_PROCESS_MODE, tiny_weights

pytestmark = pytest.mark.slow

SYSTEM = {"role": "system", "content": "You answer questions briefly."}
QUESTIONS = [
    "What is the capital of France?",
    "What is 2 plus 2?",
    "Translate 'hello' to Arabic.",
]
TOKENS = 32


def params(**over: Any) -> dict[str, Any]:
    return {"name": "smollm2-135m", "sha256": "0" * 64, "context_size": 1024, "threads": 1,
            "flash_attn": True, "cpu_mode": IN_PROCESS_MODE, **over}  # fmt: skip


@pytest.fixture(scope="module")
def gen() -> Iterator[BatchedLlamaGenerator]:
    g = BatchedLlamaGenerator(tiny_weights(), parallel=4, **params())
    g.load()
    yield g
    g.close()


@pytest.fixture(scope="module")
def alone(gen: BatchedLlamaGenerator) -> list[str]:
    """Each question's answer with no other answer in the batch."""
    return [ask(gen, q) for q in QUESTIONS]


def ask(g: Any, question: str, **kwargs: Any) -> str:
    return "".join(g.stream([SYSTEM, {"role": "user", "content": question}],
                            max_tokens=TOKENS, **kwargs))  # fmt: skip


def together(g: Any, questions: list[str]) -> list[str]:
    out = [""] * len(questions)

    def run(i: int) -> None:
        out[i] = ask(g, questions[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(questions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return out


def test_alone_it_answers_as_the_one_at_a_time_generator_does(alone: list[str]) -> None:
    ref = LlamaGenerator(tiny_weights(), **params())
    for question, answer in zip(QUESTIONS, alone, strict=True):
        assert ask(ref, question) == answer  # same chat template, penalty, stop
        assert answer.strip()


def test_answers_decoded_together_are_the_answers_alone(
    gen: BatchedLlamaGenerator, alone: list[str]
) -> None:
    assert together(gen, QUESTIONS) == alone


def test_a_question_joins_mid_way_and_the_system_prompt_is_reused(
    gen: BatchedLlamaGenerator, alone: list[str]
) -> None:
    engine = gen.load()
    first = Sequence(gen.prompt_tokens([SYSTEM, {"role": "user", "content": QUESTIONS[0]}]), TOKENS)
    engine.submit(first)
    events = [first.events.get(timeout=60) for _ in range(3)]  # usage, then two pieces
    assert [k for k, _ in events] == ["usage", "piece", "piece"]
    second = Sequence(
        gen.prompt_tokens([SYSTEM, {"role": "user", "content": QUESTIONS[1]}]), TOKENS
    )
    engine.submit(second)  # joins while the first is being written
    later: list[tuple[str, Any]] = []
    texts = []
    for seq, seen in ((first, events), (second, later)):
        while not seen or seen[-1][0] not in ("end", "fail"):
            seen.append(seq.events.get(timeout=120))
        texts.append("".join(v for k, v in seen if k == "piece"))
    assert texts == alone[:2]
    prompt, reused = dict(later)["usage"]
    assert 0 < reused < prompt  # the system prompt's cells were shared, not read again


def test_cancelling_one_answer_leaves_the_others_whole(
    gen: BatchedLlamaGenerator, alone: list[str]
) -> None:
    cancel = threading.Event()
    got: list[str] = []

    def cancelled() -> None:
        for piece in gen.stream([SYSTEM, {"role": "user", "content": "Tell me a long story."}],
                                max_tokens=TOKENS, cancel=cancel):  # fmt: skip
            got.append(piece)
            if len(got) == 2:
                cancel.set()

    t = threading.Thread(target=cancelled)
    t.start()
    rest = together(gen, QUESTIONS[:2])
    t.join(300)
    assert len(got) == 2
    assert rest == alone[:2]


def test_arabic_comes_out_whole(gen: BatchedLlamaGenerator) -> None:
    arabic = "مرحبا بكم في مكتبة الجامعة"
    engine = gen.load()
    seq = Sequence(
        gen.prompt_tokens([{"role": "user", "content": f"Repeat exactly: {arabic}"}]), TOKENS
    )
    n_prompt = len(seq.tokens)
    engine.submit(seq)
    pieces: list[str] = []
    while True:
        kind, value = seq.events.get(timeout=120)
        if kind == "piece":
            pieces.append(value)
        if kind in ("end", "fail"):
            break
    text = "".join(pieces)
    written = [*seq.tokens[n_prompt:], seq.last][: seq.generated]  # the last one sampled too
    whole = gen._llm.detokenize(written).decode("utf-8", "replace")
    assert text == whole and "\ufffd" not in text
    assert any("\u0600" <= c <= "\u06ff" for c in text)  # Arabic letters, none cut in half
    assert len(pieces) < len(text.encode("utf-8"))


def test_concurrent_answers_through_the_worker_process(tmp_path: Path, alone: list[str]) -> None:
    s = Settings(data_dir=tmp_path, model="smollm2-135m", parallel=3, threads=1,
                 context_size=1024, flash_attn=True)  # fmt: skip
    w = model_worker(s, tiny_weights(), "0" * 64)  # PARALLEL > 1: the batched generator
    try:
        assert w.capacity == 3 and w.supervisor.spec.factory == BATCHED_FACTORY
        w.load()
        assert w.status()["state"] == "ready"
        assert together(w, QUESTIONS) == alone
        assert w.count_tokens("one two three") > 0
        # kill -9 with two answers in flight: both fail, the restarted worker answers
        failed: list[BaseException] = []
        streaming = threading.Barrier(3)

        def doomed() -> None:
            try:
                for n, _ in enumerate(w.stream([SYSTEM, {"role": "user", "content": "Tell me "
                                               "a long story."}], max_tokens=200)):  # fmt: skip
                    if n == 0:
                        streaming.wait(60)
            except ModelCrashed as exc:
                failed.append(exc)

        threads = [threading.Thread(target=doomed) for _ in range(2)]
        for t in threads:
            t.start()
        streaming.wait(60)
        w.kill(9)
        for t in threads:
            t.join(60)
        assert len(failed) == 2
        assert ask(w, QUESTIONS[0]) == alone[0]
        assert w.status()["restarts"] == 1
    finally:
        w.close()


def test_a_long_prompt_is_read_between_the_tokens_of_the_others(
    gen: BatchedLlamaGenerator,
) -> None:
    engine = gen.load()
    story = [SYSTEM, {"role": "user", "content": "Tell me a long story about a lighthouse."}]
    writing = Sequence(gen.prompt_tokens(story), 200)
    engine.submit(writing)
    while writing.events.get(timeout=60)[0] != "piece":
        pass
    passage = "The library opens at nine and closes at five on weekdays. " * 40
    long = Sequence(gen.prompt_tokens([SYSTEM, {"role": "user", "content": passage}]), 4)
    assert len(long.tokens) > 3 * PREFILL_CHUNK
    before = writing.generated
    engine.submit(long)
    while long.events.get(timeout=120)[0] != "usage":
        pass
    # one token of the running answer per chunk of the long prompt, none held back for it
    assert writing.generated - before >= len(long.tokens) // PREFILL_CHUNK - 1
    writing.cancel.set()
