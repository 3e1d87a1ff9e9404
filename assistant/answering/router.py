"""A chain of models: the first answers, the next takes over when it refuses or is withheld.

The product is a portfolio of small models, each used where it fits (README,
``draft_model``): a small, fast model answers first; when it says its passages do
not answer the question, or the grounding check (grounding.py) withholds its answer,
the next model answers the same question from the same passages. Each model's tokens
stream as they come; between two models a ``RetryEvent`` tells the reader to discard
what it was shown. A model after the first is built (weights verified, worker
started) only when first needed. The relevance gates refuse before any model
(service.py), and the service holds the queue ticket until the last model asked is
done. A chain of one model is the plain pipeline.

With ``regenerate`` (the ``regenerate_withheld`` setting, off by default), a withheld answer
of the last model is asked once more: the conversation goes on with its answer and a turn
naming the facts no source states (``prompt.corrected``), so llama.cpp reads only that turn.
What it writes then is judged alike: shown if backed, else the refusal. Off because the 1.5B
then refused all 25 withheld eval answers it was asked again (CHANGELOG, 2026-12-06).
"""

from __future__ import annotations

import collections.abc as abc
import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from assistant.answering.asked import NO_FIGURE, lacks_asked_figure
from assistant.answering.citations import attribute, is_refusal, resolve
from assistant.answering.events import Event, RetryEvent, TokenEvent
from assistant.answering.generator import Generator
from assistant.answering.grounding import check, grounded_lead
from assistant.answering.guard import leaks_prompt
from assistant.answering.in_language import in_question_language
from assistant.answering.prompt import (
    SYSTEM_PROMPT,
    Message,
    build_messages,
    corrected,
    refusal,
)
from assistant.answering.queue import QueueTimeout
from assistant.domain import Citation, Draft, RetrievedChunk
from assistant.text.sentences import finished_part

Steps = abc.Generator[Event, None, "Verdict"]


@dataclass(frozen=True, slots=True)
class ChainModel:
    """One model of the chain: its name, how to get it, and the system prompt it reads."""

    name: str
    load: Callable[[], Generator]  # called when the model is first asked
    system_prompt: str = SYSTEM_PROMPT


@dataclass(slots=True)
class Verdict:
    """One model's answer, judged: shown as it is, refused, or withheld."""

    model: str
    text: str  # what is shown: the answer with its markers resolved, or the refusal
    refused: bool
    cited: list[Citation] = field(default_factory=list)
    written: str = ""  # what the model wrote
    withheld: str | None = None
    unsupported: list[str] = field(default_factory=list)  # of the withheld or trimmed text
    trimmed: str | None = None  # the tail cut from a shown answer: it stated unsupported facts
    evidence: list[str] = field(default_factory=list)
    drafts: list[Draft] = field(default_factory=list)  # earlier models' discarded answers
    replica: str | None = None  # which copy of the model wrote it (models/replicas.py)

    @property
    def outcome(self) -> str:
        if not self.refused:
            return "answered"
        return "withheld" if self.withheld is not None else "refused"


class Router:
    """Asks the models of ``chain`` in turn until one answers (see the module's docstring)."""

    def __init__(
        self,
        chain: Sequence[ChainModel],
        *,
        max_tokens: int,
        timeout_s: float,
        verify_grounding: bool,
        regenerate: bool = False,
        keep_lead: bool = True,
    ) -> None:
        if not chain:
            raise ValueError("a chain needs at least one model")
        self.chain = list(chain)
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s
        self.verify_grounding = verify_grounding  # withhold answers their passages do not back
        self.keep_lead = keep_lead  # ...but show the cited sentences before the first one
        #: a withheld answer of the last model: that model answers once more, told which of
        #: its facts no source holds, before the user gets the refusal
        self.regenerate = regenerate

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.chain]

    @property
    def replaceable(self) -> int:
        """How many answers a later one may replace: each draft model's, and with
        ``regenerate`` the last model's first. A reader that must never show a discarded
        answer holds back that many (server/openai_api.py)."""
        return len(self.chain) - 1 + int(self.regenerate)

    def answer(
        self,
        question: str,
        hits: list[RetrievedChunk],
        sources: list[Citation],
        *,
        t0: float,
        timings: dict[str, float],
        cancel: threading.Event | None = None,
        tried: list[str] | None = None,
        language: str = "en",
    ) -> Steps:
        """Yield the answering models' tokens (and a ``RetryEvent`` between two of them);
        return the verdict shown, a refusal in ``language`` (the question's). ``timings``
        gets the shown answer's ``first_token_s`` (from ``t0``), ``generate_s``, ``tokens``
        and prompt usage, and for discarded drafts ``draft_first_token_s``, ``draft_s`` and
        ``draft_tokens``. ``tried`` is told of each model as it starts (an error names the
        model it came from)."""
        drafts: list[Draft] = []
        i = 0
        correction: list[Message] = []  # the last model's answer and what was wrong with it
        while True:
            model = self.chain[i]
            if tried is not None:
                tried.append(model.name)
            t1 = time.perf_counter()
            run: dict[str, float] = {}
            verdict = yield from self._attempt(
                model, question, hits, sources, t0, run, cancel, language, correction
            )
            stopped = cancel is not None and cancel.is_set()  # the reader is gone: no retry
            last = i == len(self.chain) - 1
            again = last and self.regenerate and not correction and verdict.withheld is not None
            if verdict.outcome == "answered" or stopped or (last and not again):
                timings.update(run)
                verdict.drafts = drafts
                return verdict
            drafts.append(Draft(model.name, verdict.outcome, verdict.written))
            if "first_token_s" in run and "draft_first_token_s" not in timings:
                timings["draft_first_token_s"] = run["first_token_s"]
            timings["draft_s"] = timings.get("draft_s", 0.0) + time.perf_counter() - t1
            timings["draft_tokens"] = timings.get("draft_tokens", 0.0) + run.get("tokens", 0.0)
            if again:  # the same model again, told which of its facts no source holds
                correction = corrected(verdict.written, verdict.unsupported)
            else:
                i += 1
            yield RetryEvent(self.chain[i].name, model.name, verdict.outcome)

    def _attempt(
        self,
        model: ChainModel,
        question: str,
        hits: list[RetrievedChunk],
        sources: list[Citation],
        t0: float,
        timings: dict[str, float],
        cancel: threading.Event | None,
        language: str,
        correction: Sequence[Message] = (),
    ) -> Steps:
        """One model's answer, streamed, then judged; ``correction`` continues the
        conversation after a withheld answer (``prompt.corrected``)."""
        deadline = time.monotonic() + self.timeout_s
        generator = model.load()
        pieces: list[str] = []
        t1 = time.perf_counter()
        messages = [*build_messages(question, hits, model.system_prompt), *correction]
        first_at = 0.0
        for piece in generator.stream(messages, max_tokens=self.max_tokens, cancel=cancel):
            if not pieces:
                first_at = time.perf_counter()
                timings["first_token_s"] = first_at - t0
                usage = getattr(generator, "last_prompt", None)  # llama.cpp only
                if usage is not None:
                    timings["prompt_tokens"], timings["prompt_reused"] = map(float, usage)
            pieces.append(piece)
            yield TokenEvent(piece)
            if time.monotonic() > deadline:
                raise QueueTimeout(f"the answer took longer than {self.timeout_s:.0f} s")
        timings["generate_s"] = time.perf_counter() - t1
        if pieces:
            timings["decode_s"] = time.perf_counter() - first_at  # after the first piece
        timings["tokens"] = float(len(pieces))
        cut = len(pieces) >= self.max_tokens  # ran into the cap: its last sentence is cut
        verdict = self.judge(model.name, "".join(pieces), sources, question, language, cut=cut)
        verdict.replica = getattr(generator, "last_replica", None)  # REPLICAS > 1 only
        return verdict

    def judge(
        self,
        model: str,
        written: str,
        sources: list[Citation],
        question: str,
        language: str = "en",
        *,
        cut: bool = False,
    ) -> Verdict:
        """Resolve the citations of what ``model`` wrote; refuse a refusal (in any language:
        the user gets the one of ``language``) or a leaked system prompt, and withhold an
        answer whose facts its passages do not hold. An answer ``cut`` off by the token cap
        loses its unfinished last sentence first: a half-written date is no claim."""
        shown = finished_part(written) if cut else written
        text, cited = resolve(attribute(shown, sources), sources)
        if is_refusal(text) or leaks_prompt(text):  # never hand out the system prompt
            return Verdict(model, refusal(language), True, written=written)
        if not self.verify_grounding:
            return Verdict(model, text, False, cited, written=written)
        grounding = check(text, sources, question=question)  # answering/grounding.py
        lead = None
        if not grounding.supported and self.keep_lead:  # its cited lead holds: cut the rest
            lead = grounded_lead(text, grounding)
        if not grounding.supported and (lead is None or is_refusal(lead)):
            return _withheld(model, language, written, text, grounding.unsupported)
        trimmed, unsupported = None, []
        if lead is not None:  # the cut is where the lead ends
            trimmed, unsupported = text[grounding.cut :].strip(), grounding.unsupported
            text, cited = resolve(lead, sources)
            grounding = check(text, sources, question=question)
        if lacks_asked_figure(question, text):  # backed, yet no answer to "how many" (asked.py)
            return _withheld(model, language, written, text, [*unsupported, NO_FIGURE])
        local = in_question_language(text, cited, language, question)
        if local is not None:  # English prose from Arabic passages: theirs (in_language.py)
            text, cited = resolve(local, sources)
            grounding = check(text, sources, question=question)
        cited = [dataclasses.replace(c, evidence=grounding.evidence.get(c.n)) for c in cited]
        return Verdict(
            model,
            text,
            False,
            cited,
            written=written,
            evidence=grounding.spans,
            trimmed=trimmed,
            unsupported=unsupported,
        )


def _withheld(
    model: str, language: str, written: str, text: str, unsupported: list[str]
) -> Verdict:
    """The refusal given instead of ``text``, which ``unsupported`` says why it is not shown."""
    return Verdict(
        model, refusal(language), True, written=written, withheld=text, unsupported=unsupported
    )
