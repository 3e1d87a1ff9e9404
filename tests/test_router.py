"""The chain of models (assistant/answering/router.py) through the real service, store and
audit log: a draft model answers first; the next takes over, with the same passages, when
the draft refuses or its answer is withheld; the reader is told to discard the draft."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence

import pytest

from assistant.answering.prompt import REFUSAL
from assistant.answering.router import ChainModel
from assistant.answering.service import AnswerService, DoneEvent, Event, RetryEvent, TokenEvent
from assistant.audit.export import ExportFilter
from assistant.errors import ConfigError, ModelCrashed
from assistant.eval.dataset import EvalItem
from assistant.eval.runner import run_eval
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.settings import Settings, load_settings
from tests.conftest import SAMPLE

QUESTION = "What is the hotel cap per night in capital cities?"
BACKED = "In capital cities the cap is 220 EUR per night [1]."
INVENTED = "The cap is 480 EUR per night in capital cities [1]."  # withheld: no passage has 480


class Scripted:
    """A model that says what it is told to, and counts how often it was asked."""

    def __init__(
        self,
        name: str,
        reply: str,
        *,
        during: Callable[[], None] | None = None,
        fail: Exception | None = None,
        then: str | None = None,
    ) -> None:
        self.name = name
        self.reply = reply
        self.then = then  # the reply when asked again (else ``reply`` again)
        self.asked: list[list[dict[str, str]]] = []
        self.during = during  # called after the first token: look at the world mid-answer
        self.fail = fail
        self.calls = 0

    def stream(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        self.calls += 1
        self.asked.append([dict(m) for m in messages])
        reply = self.then if self.then is not None and self.calls > 1 else self.reply
        for i, word in enumerate(reply.split(" ")):
            yield word + " "
            if i == 0 and self.during is not None:
                self.during()
            if self.fail is not None:
                raise self.fail


REFUSING = Scripted("small", REFUSAL)

Ask = Callable[[Scripted, Scripted], tuple[Resources, list[Event]]]


@pytest.fixture
def ask(settings: Settings) -> Iterator[Ask]:
    """``ask(draft, model)``: the sample ingested, the question asked through the chain."""
    built: list[Resources] = []

    def run(draft: Scripted, model: Scripted) -> tuple[Resources, list[Event]]:
        res = Resources(settings, embedder=HashEmbedder(), generator=model, draft_generator=draft)
        built.append(res)
        res.ingestor.ingest([SAMPLE], "sample")
        return res, list(res.answers.stream(QUESTION, user="alice"))

    yield run
    for res in built:
        res.close()


def _done(events: list[Event]) -> DoneEvent:
    done = events[-1]
    assert isinstance(done, DoneEvent)
    return done


def _question_record(res: Resources) -> tuple[dict[str, object], dict[str, object]]:
    (record,) = res.audit.records(ExportFilter(kinds=("question",)))
    personal = res.audit.payload(record)
    assert personal is not None
    return record.data, personal


def test_a_backed_draft_is_shown_and_the_model_never_loads(ask: Ask) -> None:
    draft, model = Scripted("small", BACKED), Scripted("large", BACKED)
    res, events = ask(draft, model)
    answer = _done(events).answer
    assert not answer.refused and "220 EUR" in answer.answer
    assert (answer.model, answer.tried, answer.drafts) == ("small", ["small"], [])
    assert not any(isinstance(e, RetryEvent) for e in events)
    assert model.calls == 0 and res.generator_if_built is model  # injected, never asked
    assert answer.to_dict()["model"] == "small"
    assert "draft_s" not in answer.timings and answer.timings["first_token_s"] > 0
    data, personal = _question_record(res)
    assert data["model"] == "small" and "escalated_from" not in data
    assert "drafts" not in personal


def test_a_refusing_draft_is_replaced_by_the_next_model(ask: Ask) -> None:
    draft, model = Scripted("small", REFUSAL), Scripted("large", BACKED)
    res, events = ask(draft, model)
    answer = _done(events).answer
    assert not answer.refused and "220 EUR" in answer.answer and answer.citations
    assert (answer.model, answer.tried) == ("large", ["small", "large"])
    (d,) = answer.drafts
    assert (d.model, d.outcome) == ("small", "refused") and d.text.strip() == REFUSAL
    # the reader is told to discard the draft before the next model's first token
    kinds = [type(e).__name__ for e in events]
    retry = kinds.index("RetryEvent")
    assert "TokenEvent" in kinds[:retry] and kinds[retry + 1] == "TokenEvent"
    after = "".join(e.text for e in events[retry:] if isinstance(e, TokenEvent))
    assert after.strip() == BACKED
    r = events[retry]
    assert isinstance(r, RetryEvent)
    assert (r.model, r.previous, r.reason) == ("large", "small", "refused")
    # timings: the shown answer's first token, and what the draft cost
    t = answer.timings
    assert t["first_token_s"] > t["draft_first_token_s"] > 0
    assert t["draft_s"] > 0 and t["draft_tokens"] == len(REFUSAL.split(" "))
    assert t["tokens"] == len(BACKED.split(" "))
    data, personal = _question_record(res)
    assert (data["model"], data["escalated_from"], data["escalation"]) == (
        "large",
        "small",
        "refused",
    )
    assert personal["drafts"] == [{"model": "small", "outcome": "refused", "text": d.text}]
    assert answer.to_dict()["tried"] == ["small", "large"]


def test_a_withheld_draft_is_replaced_by_the_next_model(ask: Ask) -> None:
    res, events = ask(Scripted("small", INVENTED), Scripted("large", BACKED))
    answer = _done(events).answer
    assert not answer.refused and answer.withheld is None and answer.model == "large"
    assert [(d.model, d.outcome) for d in answer.drafts] == [("small", "withheld")]
    assert any(isinstance(e, RetryEvent) and e.reason == "withheld" for e in events)
    data, _ = _question_record(res)
    assert data["escalation"] == "withheld" and "withheld" not in data  # the shown answer's


def test_when_every_model_fails_the_refusal_is_given(ask: Ask) -> None:
    res, events = ask(Scripted("small", REFUSAL), Scripted("large", INVENTED))
    answer = _done(events).answer
    assert answer.refused and answer.answer == REFUSAL
    assert (answer.withheld or "").startswith("The cap is 480 EUR")  # the last model's
    assert (answer.model, answer.tried) == ("large", ["small", "large"])
    assert sum(isinstance(e, RetryEvent) for e in events) == 1
    data, _ = _question_record(res)
    assert data["refused"] is True and data["withheld"] is True
    assert data["escalated_from"] == "small"


def test_a_withheld_answer_is_asked_once_more_told_what_no_source_states(
    settings: Settings,
) -> None:
    large = Scripted("large", INVENTED, then=BACKED)
    again = settings.model_copy(update={"regenerate_withheld": True})
    res = Resources(again, embedder=HashEmbedder(), generator=large, draft_generator=REFUSING)
    res.ingestor.ingest([SAMPLE], "sample")
    events = list(res.answers.stream(QUESTION, user="alice"))
    answer = _done(events).answer
    assert not answer.refused and "220 EUR" in answer.answer and answer.model == "large"
    assert answer.tried == ["small", "large", "large"] and large.calls == 2
    assert [(d.model, d.outcome) for d in answer.drafts] == [
        ("small", "refused"),
        ("large", "withheld"),
    ]
    retries = [(e.model, e.previous, e.reason) for e in events if isinstance(e, RetryEvent)]
    assert retries == [("large", "small", "refused"), ("large", "large", "withheld")]
    # the conversation goes on: the same passages and question, its answer, what was wrong
    first, second = large.asked
    assert second[: len(first)] == first  # llama.cpp reuses its KV cache up to here
    said, told = second[len(first) :]
    assert said == {"role": "assistant", "content": INVENTED + " "}
    assert told["role"] == "user" and told["content"].startswith('No source states "480".')
    data, personal = _question_record(res)
    assert (data["escalated_from"], data["regenerated"]) == ("small", True)
    assert [d["outcome"] for d in personal["drafts"]] == ["refused", "withheld"]
    res.close()
    # a second invention is withheld too: the refusal, after two answers of the last model
    res = Resources(again, embedder=HashEmbedder(), generator=Scripted("large", INVENTED))
    try:
        res.ingestor.ingest([SAMPLE], "sample")
        answer = res.answers.answer(QUESTION, user="alice")
        assert answer.refused and answer.withheld and answer.tried == ["large", "large"]
    finally:
        res.close()


def test_by_default_a_withheld_answer_is_refused_at_once(settings: Settings) -> None:
    large = Scripted("large", INVENTED, then=BACKED)
    res = Resources(settings, embedder=HashEmbedder(), generator=large)
    try:
        res.ingestor.ingest([SAMPLE], "sample")
        answer = res.answers.answer(QUESTION, user="alice")
        assert answer.refused and answer.withheld and large.calls == 1
    finally:
        res.close()


def test_the_gates_refuse_before_any_model(settings: Settings) -> None:
    draft, model = Scripted("small", BACKED), Scripted("large", BACKED)
    res = Resources(settings, embedder=HashEmbedder(), generator=model, draft_generator=draft)
    try:
        res.ingestor.ingest([SAMPLE], "sample")
        answer = res.answers.answer("zyxwv qwerty plugh", user="alice")
        assert answer.refused and answer.model is None and answer.tried == []
        assert draft.calls == model.calls == 0
    finally:
        res.close()


def _service(res: Resources, first: Scripted, *rest: ChainModel) -> AnswerService:
    return AnswerService(res.retriever, first, fallbacks=rest)


def test_the_next_model_loads_only_when_first_needed_and_the_ticket_waits_for_it(
    resources: Resources,
) -> None:
    resources.ingestor.ingest([SAMPLE], "sample")
    loads: list[str] = []
    depth_while_large_answers: list[int] = []
    large = Scripted("large", BACKED)

    def load_large() -> Scripted:
        loads.append("large")
        return large

    service = _service(resources, Scripted("small", BACKED), ChainModel("large", load_large))
    assert service.models == ["small", "large"]
    assert service.answer(QUESTION).model == "small" and loads == []

    service = _service(resources, Scripted("small", REFUSAL), ChainModel("large", load_large))
    large.during = lambda: depth_while_large_answers.append(service.queue.depth)
    assert service.answer(QUESTION).model == "large" and loads == ["large"]
    assert depth_while_large_answers == [1]  # the question still holds the model's slot
    assert service.queue.depth == 0  # released once the last model was done


def test_a_reader_that_left_gets_no_second_model(resources: Resources) -> None:
    resources.ingestor.ingest([SAMPLE], "sample")
    cancel = threading.Event()
    large = Scripted("large", BACKED)
    service = _service(
        resources, Scripted("small", REFUSAL, during=cancel.set), ChainModel("large", lambda: large)
    )
    events = list(service.stream(QUESTION, cancel=cancel))
    assert not any(isinstance(e, RetryEvent) for e in events) and large.calls == 0


def test_a_failure_is_audited_with_its_model(settings: Settings) -> None:
    crash = ModelCrashed("the model process died")
    res = Resources(
        settings,
        embedder=HashEmbedder(),
        generator=Scripted("large", BACKED, fail=crash),
        draft_generator=Scripted("small", REFUSAL),
    )
    try:
        res.ingestor.ingest([SAMPLE], "sample")
        with pytest.raises(ModelCrashed):
            res.answers.answer(QUESTION, user="alice")
        (record,) = res.audit.records(ExportFilter(kinds=("answer_failed",)))
        assert record.data["model"] == "large" and record.data["error"] == "model_crashed"
    finally:
        res.close()


def test_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().draft_model is None and Settings().chat_models == ["qwen2.5-1.5b"]
    monkeypatch.setenv("ASSISTANT_DRAFT_MODEL", "qwen2.5-0.5b")
    assert load_settings().chat_models == ["qwen2.5-0.5b", "qwen2.5-1.5b"]
    monkeypatch.setenv("ASSISTANT_DRAFT_MODEL", "")
    assert load_settings().draft_model is None
    with pytest.raises(ConfigError, match="draft_model"):
        load_settings(model="qwen2.5-0.5b", draft_model="qwen2.5-0.5b")


def test_the_eval_records_which_model_answered(settings: Settings) -> None:
    res = Resources(
        settings,
        embedder=HashEmbedder(),
        generator=Scripted("large", BACKED),
        draft_generator=Scripted("small", REFUSAL),
    )
    try:
        res.ingestor.ingest([SAMPLE], "sample")
        items = [EvalItem(QUESTION, ["220 EUR"], ["expenses-policy"]), EvalItem("zyxwv qwerty")]
        report = run_eval(res, items, dataset="t", keep_samples=True)
    finally:
        res.close()
    assert report.settings["draft_model"] == "small"
    assert [s["model"] for s in report.samples] == ["large", None]
    assert report.samples[0]["tried"] == ["small", "large"]
    assert report.answers is not None
    assert report.answers.by_model == {"large": 1.0} and report.answers.escalated == 1.0
