"""What a load run recorded, the figures drawn from it, and the side-by-side Markdown table.

Definitions (they matter more than the numbers):

- *non-LLM* requests are page loads, health checks, history and audit pages;
  sign-ins are shown on their own (argon2 hashing is deliberately slow).
- a *server error* is any 5xx, transport failure or ``error`` event in a
  stream, except the queue's intended 503 (``busy``), which must carry a
  ``Retry-After`` header: one without it is counted separately.
- *wait* is submission to first token, seen by the client. Fairness: the
  longest wait against the median, questions that timed out, and FIFO
  inversions -- two questions that both waited in the queue, accepted at
  least ``FIFO_MARGIN_S`` apart, whose first tokens came in the other order.
  *Accepted* is when the response headers arrived: the server takes the
  queue ticket just before it sends them, so their order is the ticket
  order; submission order is not (a loaded server parses requests with up
  to a second of jitter, which is not the queue's doing).
- *RSS growth after warm-up*: the server's peak RSS after the first quarter of
  the mix, over its RSS at that point. The sign-in storm (every user at once,
  before the mix) is reported on its own: its wall time and peak RSS.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

NON_LLM = ("page", "health", "history", "audit")
FIFO_MARGIN_S = 0.1
WARM_UP_FRACTION = 0.25
MIB = 2**20


@dataclass(slots=True)
class Sample:
    kind: str
    started: float
    seconds: float
    status: int  # 0: no response (transport error)
    error: str | None = None


@dataclass(slots=True)
class QuestionSample:
    submitted: float
    accepted: float | None = None  # response headers received: the ticket is taken by then
    status: int = 0
    first_token: float | None = None
    done: float | None = None
    queued: bool = False
    refused: bool | None = None
    retry_after: str | None = None
    error: str | None = None

    @property
    def answered(self) -> bool:
        return self.status == 200 and self.done is not None and self.error is None

    @property
    def wait(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.submitted


@dataclass(slots=True)
class LoadResult:
    users: int
    seconds: float
    server: str
    samples: list[Sample] = field(default_factory=list)
    questions: list[QuestionSample] = field(default_factory=list)
    rss: list[tuple[float, int]] = field(default_factory=list)  # during the mix
    login_rss: list[tuple[float, int]] = field(default_factory=list)  # during the sign-in storm
    login_wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    mix: dict[str, str] = field(default_factory=dict)
    user_failures: list[str] = field(default_factory=list)
    cut: int = 0  # users still busy when the drain time ran out
    label: str = ""  # the column's head when the server differs from the first run's
    wall_s: float = 0.0

    def summary(self) -> Summary:
        return summarize(self)

    def healthy(self) -> bool:
        """Green: no server errors, every 503 with Retry-After, every user ran."""
        s = self.summary()
        return (
            s.server_errors == 0
            and s.busy_without_retry_after == 0
            and s.unexpected_4xx == 0
            and s.login_failures == 0
            and not self.user_failures
        )


@dataclass(slots=True)
class Latency:
    n: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    samples_ms: list[float]


@dataclass(slots=True)
class Summary:
    latency: dict[str, Latency]  # per action, and "non-LLM" for all of them together
    requests_per_s: float
    server_errors: int
    transport_errors: int
    unexpected_4xx: int
    login_failures: int
    busy: int
    busy_without_retry_after: int
    rate_limited: int
    asked: int
    answered: int
    refused: int
    timed_out: int
    unfinished: int
    wait_median_s: float | None
    wait_p95_s: float | None
    wait_max_s: float | None
    fifo_pairs: int
    fifo_inversions: int
    rss_peak_mib: float | None
    rss_warm_mib: float | None
    rss_end_mib: float | None
    rss_growth: float | None  # fraction, after warm-up
    login_wall_s: float
    login_rss_peak_mib: float | None
    errors_seen: list[str]


def latency(seconds: Sequence[float]) -> Latency | None:
    if not seconds:
        return None
    ms = [s * 1000 for s in seconds]
    p50, p95, p99 = (float(x) for x in np.percentile(ms, [50, 95, 99]))
    return Latency(len(ms), p50, p95, p99, ms)


def _busy(q: QuestionSample) -> bool:
    return q.status == 503 and q.error == "busy"


def _has_retry_after(q: QuestionSample) -> bool:
    return bool(q.retry_after and q.retry_after.isdigit() and int(q.retry_after) > 0)


def fifo_inversions(questions: Sequence[QuestionSample]) -> tuple[int, int]:
    """(pairs compared, pairs served out of order) among questions that waited in the queue."""
    queued = sorted(
        (q for q in questions if q.queued and q.first_token and q.accepted is not None),
        key=lambda q: q.accepted or 0.0,
    )
    pairs = inversions = 0
    for i, a in enumerate(queued):
        for b in queued[i + 1 :]:
            if (b.accepted or 0.0) - (a.accepted or 0.0) < FIFO_MARGIN_S:
                continue
            pairs += 1
            if b.first_token < a.first_token:  # type: ignore[operator]
                inversions += 1
    return pairs, inversions


def summarize(r: LoadResult) -> Summary:
    by_kind: dict[str, list[float]] = {}
    for s in r.samples:
        if s.status and s.status < 400:
            by_kind.setdefault(s.kind, []).append(s.seconds)
    lat = {k: v for k, v in ((k, latency(xs)) for k, xs in by_kind.items()) if v is not None}
    all_non_llm = latency([x for k in NON_LLM for x in by_kind.get(k, [])])
    if all_non_llm is not None:
        lat["non-LLM"] = all_non_llm

    errors: list[str] = []
    server_errors = transport = unexpected = 0
    for s in r.samples:
        if s.kind == "login":
            continue  # counted as login_failures
        if s.status == 0:
            transport += 1
            errors.append(f"{s.kind}: {s.error}")
        elif s.status >= 500:
            server_errors += 1
            errors.append(f"{s.kind}: HTTP {s.status}")
        elif s.status >= 400 and s.status != 429:
            unexpected += 1
            errors.append(f"{s.kind}: HTTP {s.status}")
    for q in r.questions:
        if q.status == 0 and q.done is not None:
            transport += 1
            errors.append(f"question: {q.error}")
        elif q.status >= 500 and not _busy(q):
            server_errors += 1
            errors.append(f"question: HTTP {q.status} {q.error}")
        elif q.status == 200 and q.error is not None and q.error != "timeout":
            server_errors += 1
            errors.append(f"question stream: {q.error}")
        elif 400 <= q.status < 500 and q.status != 429:
            unexpected += 1
            errors.append(f"question: HTTP {q.status} {q.error}")

    waits = [w for q in r.questions if q.answered and (w := q.wait) is not None]
    pairs, inversions = fifo_inversions(r.questions)
    warm_at = r.seconds * WARM_UP_FRACTION
    after = [b for t, b in r.rss if t >= warm_at]
    done = sum(1 for s in r.samples if s.status) + sum(1 for q in r.questions if q.done)
    return Summary(
        latency=lat,
        requests_per_s=done / r.wall_s if r.wall_s else 0.0,
        server_errors=server_errors,
        transport_errors=transport,
        unexpected_4xx=unexpected,
        login_failures=sum(1 for s in r.samples if s.kind == "login" and s.error),
        busy=sum(1 for q in r.questions if _busy(q)),
        busy_without_retry_after=sum(
            1 for q in r.questions if q.status == 503 and not _has_retry_after(q)
        ),
        rate_limited=sum(1 for q in r.questions if q.status == 429)
        + sum(1 for s in r.samples if s.status == 429),
        asked=len(r.questions),
        answered=sum(1 for q in r.questions if q.answered),
        refused=sum(1 for q in r.questions if q.answered and q.refused),
        timed_out=sum(1 for q in r.questions if q.status == 504 or q.error == "timeout"),
        unfinished=sum(1 for q in r.questions if q.done is None),
        wait_median_s=statistics.median(waits) if waits else None,
        wait_p95_s=float(np.percentile(waits, 95)) if waits else None,
        wait_max_s=max(waits) if waits else None,
        fifo_pairs=pairs,
        fifo_inversions=inversions,
        rss_peak_mib=max(b for _, b in r.rss) / MIB if r.rss else None,
        rss_warm_mib=after[0] / MIB if after else None,
        rss_end_mib=r.rss[-1][1] / MIB if r.rss else None,
        rss_growth=max(after) / after[0] - 1 if after else None,
        login_wall_s=r.login_wall_s,
        login_rss_peak_mib=max(b for _, b in r.login_rss) / MIB if r.login_rss else None,
        errors_seen=errors[:10],
    )


def _f(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def rows(s: Summary, r: LoadResult) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for kind in ("non-LLM", *NON_LLM, "login"):
        lat = s.latency.get(kind)
        if lat is not None:
            out.append(
                (
                    f"{kind} p50 / p95 / p99 (ms)",
                    f"{_f(lat.p50_ms)} / {_f(lat.p95_ms)} / {_f(lat.p99_ms)} (n={lat.n})",
                )
            )
    ratio = s.wait_max_s / s.wait_median_s if s.wait_max_s is not None and s.wait_median_s else None
    out += [
        (
            "sign-in storm: all users, wall time (s) / server peak RSS (MiB)",
            f"{_f(s.login_wall_s, 1)} / {_f(s.login_rss_peak_mib, 0)} ({s.login_failures} failed)",
        ),
        ("requests per second (all, during the mix)", _f(s.requests_per_s)),
        ("5xx and transport errors (target 0)", f"{s.server_errors + s.transport_errors}"),
        ("unexpected 4xx (target 0)", str(s.unexpected_4xx)),
        (
            "503 busy: count / without Retry-After (target 0)",
            f"{s.busy} / {s.busy_without_retry_after}",
        ),
        ("429 rate-limited", str(s.rate_limited)),
        ("questions asked / answered / refused", f"{s.asked} / {s.answered} / {s.refused}"),
        ("questions timed out (target 0) / cut at the end", f"{s.timed_out} / {s.unfinished}"),
        (
            "wait to first token: median / p95 / max (s)",
            f"{_f(s.wait_median_s, 2)} / {_f(s.wait_p95_s, 2)} / {_f(s.wait_max_s, 2)}",
        ),
        ("longest wait ÷ median wait", _f(ratio, 1)),
        ("FIFO inversions / pairs compared (target 0)", f"{s.fifo_inversions} / {s.fifo_pairs}"),
        (
            "server RSS: at warm-up / peak / end (MiB)",
            f"{_f(s.rss_warm_mib, 0)} / {_f(s.rss_peak_mib, 0)} / {_f(s.rss_end_mib, 0)}",
        ),
        (
            "RSS growth after warm-up (target ≤ 10 %)",
            "–" if s.rss_growth is None else f"{s.rss_growth * 100:.1f} %",
        ),
    ]
    return out


def render_markdown(results: Sequence[LoadResult]) -> str:
    """One column per run, side by side."""
    if not results:
        return "(no runs)"
    tables = [dict(rows(r.summary(), r)) for r in results]
    names = list(tables[0])
    head = [r.label or f"{r.users} users × {r.seconds:.0f} s" for r in results]
    lines = ["| figure | " + " | ".join(head) + " |", "|---|" + "---|" * len(results)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(t.get(name, "–") for t in tables) + " |")
    notes = {n for r in results for n in r.notes}
    lines.append("")
    lines.append(
        f"Server: {results[0].server}. Mix: "
        + ", ".join(f"{k} `{v}`" for k, v in results[0].mix.items())
        + "."
    )
    lines += [f"- {n}" for n in sorted(notes)]
    for r in results:
        errors = r.summary().errors_seen
        if errors or r.user_failures:
            lines.append(f"- {r.users} users, first errors: " + "; ".join(errors + r.user_failures))
    return "\n".join(lines)
