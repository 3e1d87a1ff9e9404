"""The model runs in its own worker process: streaming, cancel, crashes, restarts, refusal.

A real worker process (assistant/models/worker.py) runs a deterministic generator
(tests/worker_generators.py) and is killed for real, with SIGKILL and SIGSEGV.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from assistant.errors import ModelCrashed, ModelUnavailable
from assistant.models.cpu import mode_ladder
from assistant.models.model_worker import ModelWorker
from assistant.models.supervisor import Supervisor
from assistant.models.worker import WorkerSpec

MESSAGES = [{"role": "user", "content": "How long is annual leave?"}]
STEP = "tests.worker_generators:StepGenerator"


def worker(
    events: list[tuple[str, dict[str, Any]]] | None = None,
    *,
    modes: tuple[str, ...] = ("extra",),
    max_crashes: int = 5,
    verified: tuple[str, int, int] | None = None,
    sha256: str | None = None,
    **kwargs: Any,
) -> ModelWorker:
    spec = WorkerSpec("step", sha256, "extra", STEP, kwargs, verified)
    supervisor = Supervisor(
        spec,
        modes=modes,  # type: ignore[arg-type]
        max_crashes=max_crashes,
        backoff_s=0.05,
        backoff_max_s=0.2,
        start_timeout_s=30,
        on_event=None if events is None else lambda phase, data: events.append((phase, data)),
    )
    return ModelWorker(supervisor)


def answer(w: ModelWorker, **kwargs: Any) -> str:
    return "".join(w.stream(MESSAGES, max_tokens=100, **kwargs))


def test_answers_stream_from_another_process() -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    w = worker(events, tokens=5)
    try:
        assert answer(w) == "word0 word1 word2 word3 word4 "
        st = w.status()
        assert st["state"] == "ready" and st["cpu_mode"] == "extra"
        assert st["pid"] not in (None, os.getpid())
        assert w.last_prompt == (5, 0)  # prompt usage crosses the process boundary
        assert w.count_tokens("one two three") == 3
        assert [p for p, _ in events] == ["started"]
    finally:
        w.close()
    assert w.status()["state"] == "stopped"


def test_one_at_a_time_answers_run_on_the_thread_that_loaded_the_model() -> None:
    """llama.cpp's OpenMP keeps a thread pool per computing thread: a second one made
    decoding 0.74x as fast (assistant/models/worker.py). A batched generator computes on
    its own engine thread, so its answers may run anywhere."""
    one = worker(tokens=1, say_thread=True)
    try:
        assert [answer(one) for _ in range(3)] == ["probe-thread word0 "] * 3
        assert one.count_tokens("one two") == 2  # counted on another thread, meanwhile
    finally:
        one.close()
    batched = worker(tokens=1, say_thread=True, capacity=2)
    try:
        assert answer(batched) == "other-thread word0 "
    finally:
        batched.close()


@pytest.mark.parametrize(
    ("crash_modes", "chosen"),
    [(("extra",), "no-amx"), (("extra", "no-amx"), "plain")],
)
def test_a_mode_whose_probe_crashes_is_dropped_for_the_next(
    crash_modes: tuple[str, ...], chosen: str
) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    w = worker(events, modes=("extra", "no-amx", "plain"), crash_modes=crash_modes, tokens=2)
    try:
        assert answer(w) == "word0 word1 "
        st = w.status()
        assert st["cpu_mode"] == chosen and st["state"] == "ready"
        results = {p["mode"]: p["result"] for p in st["probes"]}
        assert all(results[m] == "killed by SIGSEGV" for m in crash_modes)
        assert results[chosen] == "passed"
        assert st["restarts"] == 0  # a failed probe is a measurement, not a crash
        assert [p for p, _ in events].count("probe_failed") == len(crash_modes)
    finally:
        w.close()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV])
def test_a_worker_killed_mid_answer_fails_that_answer_and_the_next_is_answered(sig: int) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    w = worker(events, tokens=40, delay=0.05)
    try:
        pieces = []
        with pytest.raises(ModelCrashed, match=signal.Signals(sig).name):
            for piece in w.stream(MESSAGES, max_tokens=100):
                pieces.append(piece)
                if len(pieces) == 3:
                    w.kill(sig)
        assert 3 <= len(pieces) < 40
        assert answer(w).startswith("word0 word1")  # restarted, in step, from the start
        st = w.status()
        assert st["restarts"] == 1 and st["crashes_in_row"] == 0
        assert st["last_exit"] == f"killed by {signal.Signals(sig).name}"
        crashed = [d for p, d in events if p == "crashed"]
        assert len(crashed) == 1 and crashed[0]["in_flight"] is True
        assert [p for p, _ in events] == ["started", "crashed", "started"]
    finally:
        w.close()


def test_a_question_waiting_for_the_model_goes_on_after_a_crash() -> None:
    w = worker(tokens=30, delay=0.05)
    results: dict[str, Any] = {}
    try:
        w.load()

        def first() -> None:
            try:
                for n, _ in enumerate(w.stream(MESSAGES, max_tokens=100)):
                    if n == 2:
                        w.kill(signal.SIGKILL)
            except ModelCrashed as exc:
                results["first"] = exc

        def second() -> None:
            results["second"] = answer(w)

        t1 = threading.Thread(target=first)
        t1.start()
        time.sleep(0.05)
        t2 = threading.Thread(target=second)  # waits for the worker, as the queue's next
        t2.start()
        t1.join(30)
        t2.join(30)
        assert isinstance(results["first"], ModelCrashed)
        assert results["second"].startswith("word0 ") and results["second"].count("word") == 30
    finally:
        w.close()


def test_a_worker_that_keeps_crashing_is_refused_with_the_reason() -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    w = worker(events, modes=("plain",), max_crashes=3, crash_modes=("plain",))
    try:
        t0 = time.monotonic()
        with pytest.raises(ModelUnavailable, match="crashed 3 times in a row"):
            answer(w)
        assert time.monotonic() - t0 < 20
        st = w.status()
        assert st["state"] == "failed" and "killed by SIGSEGV" in st["error"]
        assert [p for p, _ in events].count("crashed") == 3
        time.sleep(0.5)  # no more restarts: no crash loop
        assert [p for p, _ in events].count("crashed") == 3 and w.pid is None
        with pytest.raises(ModelUnavailable):
            answer(w)
    finally:
        w.close()


def test_a_model_that_fails_to_load_is_refused_without_restarts() -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    w = worker(events, modes=("extra", "plain"), fail_load="not a GGUF file")
    try:
        with pytest.raises(ModelUnavailable, match="could not be loaded: ValueError: not a GGUF"):
            w.load()
        assert [p for p, _ in events] == ["failed"]
        assert w.status()["restarts"] == 0
    finally:
        w.close()


def test_weights_changed_after_verification_are_hashed_again_and_refused(tmp_path: Path) -> None:
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"GGUF" + b"\0" * 64)
    st = weights.stat()
    weights.write_bytes(b"GGUF" + b"\1" * 64)  # swapped after the parent checked it
    w = worker(verified=(str(weights), st.st_size, st.st_mtime_ns - 1), sha256="0" * 64)
    try:
        with pytest.raises(ModelUnavailable, match="SHA-256"):
            w.load()
    finally:
        w.close()


def test_cancel_and_an_abandoned_reader_leave_the_worker_in_step() -> None:
    w = worker(tokens=40, delay=0.02)
    try:
        cancel = threading.Event()
        got = []
        for piece in w.stream(MESSAGES, max_tokens=100, cancel=cancel):
            got.append(piece)
            if len(got) == 2:
                cancel.set()
        assert len(got) < 40
        stream = w.stream(MESSAGES, max_tokens=100)
        assert next(stream) == "word0 "
        stream.close()  # the reader went away mid-answer
        assert answer(w).count("word") == 40  # the next answer is whole, from the start
        assert w.status()["restarts"] == 0
    finally:
        w.close()


def test_closing_while_the_worker_starts_leaves_no_process_behind() -> None:
    import psutil

    w = worker(probe_delay=1.5)

    def load() -> None:
        with pytest.raises(ModelUnavailable):
            w.load()

    starter = threading.Thread(target=load)
    starter.start()
    time.sleep(0.3)
    w.close()
    starter.join(10)

    def workers_alive() -> list[psutil.Process]:
        return [
            p
            for p in psutil.Process().children(recursive=True)
            if "assistant.models.worker" in " ".join(p.cmdline())
        ]

    deadline = time.monotonic() + 5
    while workers_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers_alive() == []


def test_the_mode_ladder() -> None:
    assert mode_ladder("auto", has_amx=True) == ["extra", "no-amx", "plain"]
    assert mode_ladder("auto", has_amx=False) == ["extra", "plain"]
    assert mode_ladder("plain") == ["plain"]


def test_concurrent_answers_stream_at_once_up_to_the_capacity() -> None:
    w = ModelWorker(worker(tokens=8, delay=0.05, capacity=2).supervisor, capacity=2)
    try:
        w.load()
        order: list[tuple[int, str]] = []
        usages: dict[int, Any] = {}

        def ask(i: int) -> None:
            for piece in w.stream([{"role": "user", "content": "one " * (i + 1)}], max_tokens=100):
                order.append((i, piece))
            usages[i] = w.last_prompt  # each answer's own usage, in its own thread

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for i in range(2):
            assert "".join(p for j, p in order if j == i) == "".join(f"word{k} " for k in range(8))
            assert usages[i] == (i + 1, 0)
        firsts = [order.index((i, "word0 ")) for i in range(2)]
        lasts = [order.index((i, "word7 ")) for i in range(2)]
        assert max(firsts) < min(lasts)  # the two were written at the same time
        assert w.status()["restarts"] == 0
    finally:
        w.close()


def test_a_crash_with_two_answers_in_flight_fails_both_and_the_next_is_answered() -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    w = ModelWorker(worker(events, tokens=40, delay=0.05, capacity=2).supervisor, capacity=2)
    results: dict[int, Any] = {}
    started = threading.Barrier(3)
    try:
        w.load()

        def ask(i: int) -> None:
            try:
                for n, _ in enumerate(w.stream(MESSAGES, max_tokens=100)):
                    if n == 1:
                        started.wait(10)
                results[i] = "finished"
            except ModelCrashed as exc:
                results[i] = exc

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        started.wait(10)  # both answers are streaming
        w.kill(signal.SIGKILL)
        for t in threads:
            t.join(30)
        assert all(isinstance(results[i], ModelCrashed) for i in range(2)), results
        assert answer(w).count("word") == 40  # restarted; the next answer is whole
        crashed = [d for p, d in events if p == "crashed"]
        assert len(crashed) == 1 and crashed[0]["in_flight"] is True
    finally:
        w.close()


def test_the_queue_admits_as_many_answers_as_the_model_decodes_together(tmp_path: Path) -> None:
    from assistant.answering.generator import EchoGenerator
    from assistant.models.embed import HashEmbedder
    from assistant.resources import Resources
    from assistant.settings import Settings

    s = Settings(data_dir=tmp_path / "data")
    w = ModelWorker(worker(tokens=2, capacity=3).supervisor, capacity=3)
    for generator, slots in ((w, 3), (EchoGenerator(), 1)):
        res = Resources(s, embedder=HashEmbedder(), generator=generator)
        try:
            assert res.answers.queue.slots == slots
        finally:
            res.close()
    w.close()
