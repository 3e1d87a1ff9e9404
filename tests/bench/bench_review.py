"""Compliance review page: page time through the app at 100,000 audit events.

The log is filled in bulk -- 1,000 records and their payloads per transaction,
a signed checkpoint each, exactly the rows ``AuditLog.record`` writes (chain,
collection index, payloads, text index) -- with a realistic mix: mostly
questions by 200 users over 60 days, from 8 collections, with varied texts, plus
sign-ins, ingests, ACL changes and exports. Then the real app serves the page
(Litestar TestClient: routing, sign-in by token, the queries, Jinja rendering,
and the ``audit_view`` record each view appends, fsync included) and each
typical filter is timed 40 times with varying values. The background verify
the page starts is waited for first, so it does not share the CPU with the
timings (it re-runs only every ``review_verify_minutes``).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from assistant.answering.generator import EchoGenerator
from assistant.audit import AuditLog, EventKind
from assistant.audit.keys import generate
from assistant.audit.monitor import monitor_for
from assistant.audit.records import format_ts
from assistant.domain import utcnow
from assistant.models.embed import HashEmbedder
from assistant.resources import Resources
from assistant.settings import Settings
from tests.bench.core import Context, Figure, Section, Target, timed

USERS = [f"user{n:03d}" for n in range(200)]
COLLECTIONS = ["hr", "finance", "it", "legal", "clinical", "facilities", "procurement", "research"]
TOPICS = [
    "annual leave", "travel expenses", "password reset", "parental leave", "invoice approval",
    "data retention", "fire safety", "laptop replacement", "contract renewal", "overtime pay",
    "visitor badges", "remote work", "sick leave", "purchase orders", "clinical trial consent",
    "patient transfer", "server maintenance", "grant reporting", "parking permits", "pension",
]  # fmt: skip
NAMES = [f"Patient{n:04d}" for n in range(500)]  # a name is in 1 question in ~1,000
TARGET = [Target(200, op="<=", text="≤ 200 ms")]


def _record_mix(rng: random.Random, i: int) -> tuple[EventKind, str, dict[str, Any], Any]:
    """(kind, actor, data, personal) of the i-th synthetic event."""
    user = USERS[rng.randrange(len(USERS))]
    roll = rng.random()
    if roll < 0.72:
        topic = TOPICS[rng.randrange(len(TOPICS))]
        used = rng.sample(COLLECTIONS, rng.choice((1, 1, 2)))
        chunks = [
            {
                "n": n,
                "chunk_id": f"{rng.getrandbits(256):064x}",
                "text_sha256": f"{rng.getrandbits(256):064x}",
                "doc_id": f"{rng.getrandbits(256):064x}",
                "collection": used[(n - 1) % len(used)],
                "score": round(rng.uniform(0.3, 0.9), 4),
                "cited": n == 1,
            }
            for n in range(1, 5)
        ]
        data = {
            "conversation_id": f"{rng.getrandbits(128):032x}",
            "chunks": chunks,
            "model_sha256": "e" * 64,
            "prompt_version": "grounded-v2",
            "refused": roll < 0.05,
            "latency_ms": rng.randrange(800, 9000),
        }
        who = f" for {NAMES[rng.randrange(len(NAMES))]}" if rng.random() < 0.3 else ""
        question = f"What is the policy on {topic}{who}? (case {i})"
        personal = {
            "question": question,
            "answer": f"The {topic} policy says to ask your manager first [1].",
            "passages": [{"n": n, "text": f"Passage about {topic}. " * 20} for n in range(1, 5)],
        }
        return EventKind.QUESTION, user, data, personal
    if roll < 0.86:
        return EventKind.LOGIN, user, {"via": "password"}, {"address": "10.0.0.7"}
    if roll < 0.93:
        return EventKind.LOGOUT, user, {"reason": "user"}, None
    if roll < 0.97:
        data = {
            "doc_id": f"{rng.getrandbits(256):064x}",
            "collection": rng.choice(COLLECTIONS),
            "label": "restricted",
            "chunks": rng.randrange(1, 200),
            "replaces": None,
        }
        return EventKind.INGEST, "system", data, {"path": f"/inbox/doc{i}.pdf"}
    if roll < 0.98:
        data = {"collection": rng.choice(COLLECTIONS), "groups": ["staff"], "label": "public"}
        return EventKind.ACL_CHANGE, "admin", data, None
    return EventKind.AUDIT_VIEW, "officer", {"page": "review", "filters": {}}, None


def fill(log: AuditLog, total: int, *, days: float = 60.0, seed: int = 5) -> None:
    """``total`` events spread evenly over the last ``days``, 1,000 per transaction."""
    rng = random.Random(seed)
    start = utcnow() - timedelta(days=days)
    step = timedelta(days=days) / total
    for first in range(0, total, 1000):
        batch = [_record_mix(rng, i) for i in range(first, min(total, first + 1000))]
        times = [start + step * i for i in range(first, first + len(batch))]
        items = [
            (actor, kind.value, format_ts(at), personal)
            for (kind, actor, _, personal), at in zip(batch, times, strict=True)
            if personal
        ]
        digests = iter(log.payloads.put_many(items))
        with log.chain.write() as db:
            for (kind, actor, data, personal), at in zip(batch, times, strict=True):
                digest = next(digests) if personal else None
                log.append_locked(db, kind, actor, data, digest, at)
        log.checkpoint()


def _p95_ms(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] * 1000


def run(ctx: Context) -> Section:
    from litestar.testing import TestClient

    from assistant.auth.principal import Level
    from assistant.server.app import create_app

    section = Section(key="review", title="Compliance review page")
    total = 2_000 if ctx.quick else 100_000
    root: Path = ctx.area_dir("review")
    settings = Settings(
        data_dir=root / "data", model="echo", embedding_model="hash", review_verify_minutes=600
    )
    settings.ensure_dirs()
    generate(settings.audit_key_file, settings.audit_public_key_file)
    log = AuditLog.from_settings(settings, seal_on_close=False)
    started = time.perf_counter()
    fill(log, total)
    built = time.perf_counter() - started
    ctx.log(f"review: {total:,} events written in {built:.0f} s")
    log.close()

    resources = Resources(settings, embedder=HashEmbedder(), generator=EchoGenerator())
    opened = timed(lambda: resources.audit)  # indexes exist: opening is cheap
    resources.access.add_user(
        "officer", "correct horse battery staple", role="compliance",
        groups=frozenset(), clearance=Level.public, actor="bench",
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {resources.access.store.issue_token('officer')}"}
    rng = random.Random(11)
    newest = next(resources.audit.records(limit=1, newest_first=True))
    end = newest.ts[:10]
    day = lambda k: (utcnow() - timedelta(days=k)).date().isoformat()  # noqa: E731
    questions = [
        r.seq for r in resources.audit.records(limit=400, newest_first=True) if r.kind == "question"
    ]
    cases: list[tuple[str, Callable[[int], dict[str, str]]]] = [
        ("newest page, no filter", lambda i: {}),
        ("one user", lambda i: {"user": USERS[(i * 7) % len(USERS)]}),
        ("one event type", lambda i: {"event": ("question", "login", "ingest", "logout")[i % 4]}),
        ("one day", lambda i: {"from": day(1 + i % 50), "to": day(1 + i % 50)}),
        ("one collection", lambda i: {"collection": COLLECTIONS[i % len(COLLECTIONS)]}),
        ("text: a patient's name (rare)", lambda i: {"q": NAMES[(i * 13) % len(NAMES)]}),
        ("text: a topic (~4 % of events)", lambda i: {"q": TOPICS[i % len(TOPICS)]}),
        ("text: a word in most events", lambda i: {"q": ("policy", "manager")[i % 2]}),
        (
            "user + event + 30 days + collection",
            lambda i: {
                "user": USERS[(i * 3) % len(USERS)],
                "event": "question",
                "from": day(30),
                "to": end,
                "collection": COLLECTIONS[i % len(COLLECTIONS)],
            },
        ),
        (
            "an older page (before a seq mid-log)",
            lambda i: {"before": str(total // 2 - i * (total // 200))},
        ),
    ]
    with TestClient(create_app(settings, resources, warm_up=False)) as client:
        assert client.get("/review", headers=headers).status_code == 200  # starts verify
        monitor = monitor_for(resources.audit, max_age=timedelta(minutes=600))
        status = monitor.wait(600)
        assert status.state == "ok", status.problems
        for name, params in cases:
            figure = section.add(
                Figure(f"{name} at {total:,} events (p95 of 40)", "ms", targets=TARGET)
            )
            samples = []
            for i in range(40):
                p = params(i)
                t0 = time.perf_counter()
                r = client.get("/review", params=p, headers=headers)
                samples.append(time.perf_counter() - t0)
                assert r.status_code == 200, (p, r.status_code, r.text[:300])
            figure.samples.append(_p95_ms(samples))
        figure = section.add(
            Figure(f"open a question at {total:,} events (p95 of 40)", "ms", targets=TARGET)
        )
        samples = []
        for _ in range(40):
            seq = questions[rng.randrange(len(questions))]
            t0 = time.perf_counter()
            assert client.get(f"/review/{seq}", headers=headers).status_code == 200
            samples.append(time.perf_counter() - t0)
        figure.samples.append(_p95_ms(samples))
        export = section.add(Figure("export one user's events as CSV (with texts)", "ms"))
        for user in USERS[:3]:
            t0 = time.perf_counter()
            r = client.post("/review/export", params={"user": user}, headers=headers)
            assert r.status_code == 200 and r.content
            export.samples.append((time.perf_counter() - t0) * 1000)
    resources.close()
    sizes = {p.name: p.stat().st_size / 1e6 for p in (root / "data" / "audit").glob("*.sqlite")}
    section.notes.append(
        f"{total:,} events written in bulk in {built:.0f} s; the whole log verified in the "
        f"background in {status.seconds:.1f} s (the page shows the cached result and its time, "
        f"re-verifying only when older than `review_verify_minutes`); opening the log: "
        f"{opened * 1000:.0f} ms. Files: "
        + ", ".join(f"{name} {mb:.0f} MB" for name, mb in sorted(sizes.items()))
        + ". Each timed view includes the `audit_view` record it appends (fsync'd). "
        "Pages are keyset-paginated (before/after a seq), totals counted up to 1,000 "
        "(shown as 1,000+); free text is FTS5 over question and answer in the erasable "
        "payload store."
    )
    return section
