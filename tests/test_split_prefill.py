"""Prompts read by a second, plain context and decoded by the repacked one
(assistant/models/prefill.py), with the real tiny model (smollm2-135m).

The split must change when the first token comes, not what the answer says: each
answer's first paragraph is compared with the one-context generator's, greedy, on
questions with clear answers. The two layouts round differently, so a near tie can flip
(as in tests/test_batched_decoding.py): the 135M model's ramble after "The answer is 27
days." did ("... an example of how" / "... an example of a logical fallacy"). A copy the
decoding context refuses falls back to reading the prompt there, with the same answer.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.models import prefill
from assistant.models.batched import BatchedLlamaGenerator
from assistant.models.batching import Sequence
from assistant.models.llama import LlamaGenerator, open_llama
from assistant.models.model_worker import worker_spec
from assistant.settings import Settings
from tests.conftest import IN_PROCESS_MODE, REPO, tiny_weights

pytestmark = pytest.mark.slow
#: the split needs a repacked decoding context, which an AMX CPU's test process cannot have
#: (tests/conftest.py): there the last test runs these again in a child pytest that refused
#: AMX first, as the model's worker does in its no-amx mode
needs_repacked = pytest.mark.skipif(
    IN_PROCESS_MODE == "plain", reason="no repacked context in this test process (AMX CPU)"
)

SYSTEM = {"role": "system", "content": "You answer questions briefly, from the sources."}
SOURCES = (
    "Sources:\n\n[1] Employees get 27 days of paid annual leave. Requests go through the "
    "HR portal two weeks ahead, and the line manager approves them.\n\n"
)
#: a second passage per question, as retrieval gives each question its own passages: the
#: new tokens after the shared prefix are then enough to be read by the plain context
OTHER = "[2] Office {n} in the north wing is open from 08:00 to 18:00 on working days.\n\n"
QUESTIONS = [
    "How many days of paid annual leave do employees get?",
    "Who approves leave requests?",
    "How far ahead must leave be requested?",
]
TOKENS = 24


def generator(split: Any) -> LlamaGenerator:
    return LlamaGenerator(tiny_weights(), name="smollm2-135m", sha256="0" * 64, context_size=1024,
                          threads=1, flash_attn=True, split_prefill=split,
                          cpu_mode=IN_PROCESS_MODE)  # fmt: skip


def batched(split: Any) -> BatchedLlamaGenerator:
    return BatchedLlamaGenerator(tiny_weights(), name="smollm2-135m", sha256="0" * 64,
                                 context_size=1024, threads=1, flash_attn=True, parallel=2,
                                 split_prefill=split, cpu_mode=IN_PROCESS_MODE)  # fmt: skip


def messages(question: str) -> list[dict[str, str]]:
    n = QUESTIONS.index(question) if question in QUESTIONS else 9
    return [
        SYSTEM,
        {"role": "user", "content": SOURCES + OTHER.format(n=n) + "Question: " + question},
    ]


def ask(g: Any, question: str) -> str:
    return "".join(g.stream(messages(question), max_tokens=TOKENS)).split("\n\n")[0]


def written(seq: Sequence) -> str:
    """The first paragraph of what the engine wrote for ``seq``, read until it ends."""
    text = ""
    while (event := seq.events.get(timeout=60))[0] != "end":
        text += event[1] if event[0] == "piece" else ""
    return text.split("\n\n")[0]


@pytest.fixture(scope="module")
def alone() -> list[str]:
    g = generator("off")
    return [ask(g, q) for q in QUESTIONS]


@pytest.fixture(scope="module")
def split() -> Iterator[LlamaGenerator]:
    g = generator("on")
    g.load()
    yield g


@needs_repacked
def test_split_answers_are_the_one_context_answers(split: LlamaGenerator,
                                                   alone: list[str]) -> None:  # fmt: skip
    assert split.prefill is not None
    before = split.prefill.used
    assert [ask(split, q) for q in QUESTIONS] == alone
    assert split.prefill.used - before == len(QUESTIONS)
    assert split.prefill.fallbacks == 0


@needs_repacked
def test_the_system_prefix_is_reused_in_both_contexts(split: LlamaGenerator) -> None:
    ask(split, QUESTIONS[0])
    ask(split, QUESTIONS[1])
    assert split.last_prompt is not None
    total, reused = split.last_prompt
    assert 0 < reused < total  # the decoding context kept the shared prefix
    held = split.prefill.plain.n_tokens if split.prefill else 0
    assert held == total - 1  # the plain one read all but the last token, from that prefix


def test_a_refused_copy_falls_back_to_reading_in_the_decoding_context(alone: list[str]) -> None:
    """A plain context with an 8-bit K cache: the decoding context (f16) refuses its copy."""
    import llama_cpp

    g = generator("off")
    llm = g.load()
    plain = open_llama(tiny_weights(), "plain", n_ctx=1024, n_threads=1, flash_attn=True,
                       type_k=llama_cpp.GGML_TYPE_Q8_0, verbose=False)  # fmt: skip
    g.prefill = prefill.PlainPrefill(plain)
    g.prefill.attach(llm)
    assert [ask(g, q) for q in QUESTIONS] == alone
    assert g.prefill.fallbacks == len(QUESTIONS) and g.prefill.used == 0


@needs_repacked
def test_auto_keeps_the_split_only_where_the_probe_times_it_faster() -> None:
    g = generator("auto")
    report = g.probe()["prefill"]
    assert report["tokens"] == prefill.PROBE_NEW and report["after"] == prefill.PROBE_PREFIX
    assert report["split"] == prefill.faster(report["split_s"], report["repacked_s"])
    assert (g.prefill is not None) == report["split"]


@needs_repacked
def test_the_batched_engine_reads_a_lone_prompt_in_the_plain_context(alone: list[str]) -> None:
    g = batched("on")
    g.load()
    assert g.prefill is not None and g.probe()["prefill"] == {"split": True}
    before = g.prefill.used
    assert [ask(g, q) for q in QUESTIONS] == alone
    assert g.prefill.used - before == len(QUESTIONS) and g.prefill.fallbacks == 0
    assert g.last_prompt is not None and 0 < g.last_prompt[1] < g.last_prompt[0]  # prefix kept
    g.close()


@needs_repacked
def test_prompts_arriving_together_are_read_in_the_engine(alone: list[str]) -> None:
    """Two answers at once: neither waits for the other's prompt in the plain context."""
    g = batched("on")
    engine = g.load()
    assert g.prefill is not None
    seqs = [Sequence(g.prompt_tokens(messages(q)), TOKENS) for q in QUESTIONS[:2]]
    with engine.cond:  # the engine admits both at its next step
        for seq in seqs:
            engine.submit(seq)
    assert [written(seq) for seq in seqs] == alone[:2]
    assert g.prefill.used == 0
    g.close()


@needs_repacked
def test_a_prompt_after_an_abandoned_answer_is_read_in_the_plain_context(
    alone: list[str],
) -> None:
    """The answer before it was left mid-way (a stop, a reader gone) and the next prompt came
    at once: the abandoned answer's slot is freed before the engine looks at the prompts, so
    the new one runs alone and is read by the plain context, as after an answer that ended."""
    g = batched("on")
    engine = g.load()
    assert g.prefill is not None
    first = Sequence(g.prompt_tokens(messages("Tell me everything about the north wing.")), 200)
    engine.submit(first)
    while first.events.get(timeout=60)[0] != "piece":
        pass  # being written
    before = g.prefill.used
    nxt = Sequence(g.prompt_tokens(messages(QUESTIONS[0])), TOKENS)
    with engine.cond:  # the engine's next admission sees both: a cancel and a new prompt
        first.cancel.set()
        engine.submit(nxt)
    assert written(nxt) == alone[0]
    assert g.prefill.used - before == 1
    g.close()


def test_a_copy_the_engine_refuses_falls_back_to_reading_there(alone: list[str]) -> None:
    g = batched("off")
    g.load()
    plain = open_llama(tiny_weights(), "plain", n_ctx=1024, n_threads=1, flash_attn=True,
                       type_k=llama_q8(), verbose=False)  # fmt: skip
    g.prefill = prefill.PlainPrefill(plain)
    assert g._engine is not None
    g._engine.prefill = g.prefill
    assert [ask(g, q) for q in QUESTIONS] == alone
    assert g.prefill.fallbacks == len(QUESTIONS) and g.prefill.used == 0
    g.close()


def llama_q8() -> int:
    import llama_cpp

    return int(llama_cpp.GGML_TYPE_Q8_0)


def test_the_plain_mode_has_nothing_to_split() -> None:
    g = LlamaGenerator(tiny_weights(), name="smollm2-135m", sha256="0" * 64, context_size=1024,
                       threads=1, cpu_mode="plain", split_prefill="on")  # fmt: skip
    g.load()
    assert g.prefill is None and g.prefill_report == {"split": False}


def test_the_setting_reaches_every_worker(tmp_path: Path) -> None:
    path = tiny_weights()
    one = worker_spec(Settings(data_dir=tmp_path, split_prefill="off"), path, "0" * 64)
    assert one.kwargs["split_prefill"] == "off"
    batched = worker_spec(Settings(data_dir=tmp_path, parallel=4, split_prefill="on"), path,
                          "0" * 64)  # fmt: skip
    assert batched.kwargs["split_prefill"] == "on"


@pytest.mark.timeout(900)
@pytest.mark.skipif(IN_PROCESS_MODE != "plain", reason="the tests above ran here (no AMX)")
def test_on_an_amx_cpu_the_split_runs_in_a_process_that_refused_amx() -> None:
    tiny_weights()  # skipped without the model, like the tests it runs
    child = [sys.executable, "-m", "pytest", "-p", "tests.deny_amx", "-p", "no:cacheprovider",
             "-q", __file__, "-k", "not refused_amx"]  # fmt: skip
    out = subprocess.run(child, cwd=REPO, capture_output=True, text=True, timeout=840)
    summary = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-2000:]
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "passed" in summary and "skipped" not in summary, summary
