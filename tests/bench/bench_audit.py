"""Audit log: how fast records are appended (each one fsync'd), and how long verifying,
filtering and proving take at 100,000 records.

Appends go through ``AuditLog.record`` exactly as the server calls it: a payload
transaction and a chain transaction, both ``synchronous=FULL``, plus a signed
checkpoint every 1,000 records. The 100,000-record log is built in batches (one
transaction per 1,000) -- the same records and checkpoints, without waiting
100,000 fsyncs -- and then verified from scratch.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from assistant.audit import AuditLog, EventKind
from assistant.audit.export import ExportFilter
from assistant.audit.keys import generate
from assistant.audit.records import format_ts, parse_ts
from assistant.domain import utcnow
from tests.bench.core import Context, Figure, Section, Target, timed

DATA = {
    "conversation_id": "c" * 32,
    "chunks": [
        {
            "n": n,
            "chunk_id": "a" * 64,
            "text_sha256": "b" * 64,
            "doc_id": "d" * 64,
            "collection": "hr",
            "score": 0.8125,
            "cited": n == 1,
        }
        for n in range(1, 5)
    ],
    "model_sha256": "e" * 64,
    "prompt_version": "grounded-v1",
    "refused": False,
    "latency_ms": 2300,
}
PERSONAL = {
    "question": "How many days of paid annual leave do full-time employees get?",
    "answer": "Full-time employees get 27 days of paid annual leave [1].",
    "passages": [{"n": n, "text": "x" * 600} for n in range(1, 5)],
}
USERS = [f"user{n:03d}" for n in range(200)]


def _log(root: Path) -> AuditLog:
    key = root / "keys" / "audit.key"
    if not key.exists():
        generate(key, key.with_name("audit.key.pub"))
    return AuditLog(
        root / "audit",
        key_path=key,
        public_key_path=key.with_name("audit.key.pub"),
        copy_dir=root / "copies",
        checkpoint_every=1000,
        seal_on_close=False,
    )


def _rate(n: int, fn: Callable[[], object]) -> float:
    return n / timed(fn)


def _build(log: AuditLog, total: int) -> None:
    """``total`` question records with payloads, 1,000 per transaction, checkpoint each."""
    for start in range(0, total, 1000):
        now = utcnow()
        batch = [USERS[(start + i) % len(USERS)] for i in range(min(1000, total - start))]
        hashes = log.payloads.put_many([(u, "question", format_ts(now), PERSONAL) for u in batch])
        with log.chain.write() as db:
            for user, digest in zip(batch, hashes, strict=True):
                log.append_locked(db, EventKind.QUESTION, user, DATA, digest, now)
        log.checkpoint()


def run(ctx: Context) -> Section:
    section = Section(key="audit", title="Audit log")
    root = ctx.area_dir("audit")
    n = 60 if ctx.quick else 400
    total = 2_000 if ctx.quick else 100_000

    log = _log(root / "append")
    question = section.add(
        Figure(
            "append a question record with its payload, 1 thread",
            "records/s",
            targets=[Target(50, text="≥ 50")],
            note="two fsync'd SQLite commits (payload, chain) per record",
        )
    )
    login = section.add(Figure("append a login record, 1 thread", "records/s"))
    threads = section.add(Figure("append login records, 4 threads", "records/s"))
    for _ in range(3):
        question.samples.append(
            _rate(n, lambda: [log.record("question", "alice", DATA, PERSONAL) for _ in range(n)])
        )
        login.samples.append(_rate(n, lambda: [log.record("login", "alice") for _ in range(n)]))

        def four() -> None:
            workers = [
                threading.Thread(target=lambda: [log.record("login", "bob") for _ in range(n // 4)])
                for _ in range(4)
            ]
            for w in workers:
                w.start()
            for w in workers:
                w.join()

        threads.samples.append(_rate(n // 4 * 4, four))
    log.close()

    log = _log(root / "large")
    started = time.perf_counter()
    _build(log, total)
    built = time.perf_counter() - started
    verify = section.add(
        Figure(
            f"verify {total:,} records (hashes, links, roots, signatures, payloads)",
            "s",
            targets=[Target(30, op="<=", text="≤ 30 s")],
        )
    )
    report = None
    for _ in range(1 if not ctx.quick else 2):
        t0 = time.perf_counter()
        report = log.verify()
        verify.samples.append(time.perf_counter() - t0)
    assert report is not None and report.ok, report and report.problems
    page = section.add(
        Figure(
            f"newest 50 events of one user at {total:,} (p95 of 40)",
            "ms",
            targets=[Target(200, op="<=", text="≤ 200 ms")],
            note="the query under the review page's pagination",
        )
    )
    times = []
    for i in range(40):
        flt = ExportFilter(actor=USERS[i * 5 % len(USERS)], kinds=("question",))
        times.append(timed(lambda flt=flt: list(log.records(flt, limit=50, newest_first=True))))
    page.samples.append(statistics.quantiles(times, n=20)[-1] * 1000)
    window = section.add(
        Figure(
            f"newest 50 events in a time window at {total:,} (p95 of 40)",
            "ms",
            targets=[Target(200, op="<=", text="≤ 200 ms")],
        )
    )
    newest = next(log.records(ExportFilter(), limit=1, newest_first=True))
    end = parse_ts(newest.ts)
    times = []
    for i in range(40):
        flt = ExportFilter(start=end - timedelta(hours=i + 1), end=end)
        times.append(timed(lambda flt=flt: list(log.records(flt, limit=50, newest_first=True))))
    window.samples.append(statistics.quantiles(times, n=20)[-1] * 1000)
    proof = section.add(Figure(f"inclusion proof of one record at {total:,}", "s"))
    proof.samples.append(timed(lambda: log.prove(total // 2)))
    sizes = {p.name: p.stat().st_size / 1e6 for p in (root / "large" / "audit").glob("*.sqlite")}
    log.close()
    section.notes.append(
        f"The {total:,}-record log (built in {built:.0f} s, batched) takes "
        + ", ".join(f"{name} {mb:.0f} MB" for name, mb in sorted(sizes.items()))
        + "; a question's payload holds its four passages as given (about 2.6 kB). "
        "Append rates are bound by fsync: each record is durable before `record()` returns."
    )
    return section
