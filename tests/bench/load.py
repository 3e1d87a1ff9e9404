"""Load test: N simulated users for T seconds against a server on loopback (asyncio + httpx).

    python -m tests.bench.load --users 10 100 --seconds 60 [--model smollm2-135m]
    python -m tests.bench.load --users 5 --seconds 5 --echo     # the smoke run, no real model

All users sign in at once first (a pluggable ``Login``: ``form_login`` as a
browser does, ``no_login`` for a server without sign-in), measured on its own;
then the clock starts and each loops until the deadline: a think time, then one action drawn
from the mix -- the chat page, the health check, the history and audit pages
(only where the server has them: a 404 drops the action, with a note) and
questions on the streaming endpoint, read to the end. After a 503 or 429 the
user waits the ``Retry-After`` before asking again, as the page does. The run
is bounded: loopback only, at most ``MAX_USERS`` users and ``MAX_SECONDS``,
and requests still in flight ``drain_s`` after the deadline are cut.

``tests/bench/load_report.py`` turns the samples into the figures, and
``tests/bench/bench_load.py`` into a section of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

from tests.bench.load_login import Login, pick_login
from tests.bench.load_report import LoadResult, QuestionSample, Sample, render_markdown
from tests.bench.load_server import Account, Server

MAX_USERS = 500
MAX_SECONDS = 900.0
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

QUESTIONS = (
    "How many days of paid annual leave do full-time employees get?",
    "Where is the fire assembly point?",
    "What is the hotel limit per night in capital cities?",
    "Which class may I book for flights under 6 hours?",
    "Within how many days must I submit an expense claim?",
    "Who books my travel?",
    "How long must passwords be?",
    "When is the building open?",
)

#: action -> (path candidates, weight, role needed). The first candidate that is not a
#: 404 is used; an action with none is dropped from the mix with a note.
Mix = dict[str, tuple[tuple[str, ...], int, str | None]]
MIX: Mix = {
    "page": (("/",), 3, None),
    "health": (("/healthz",), 2, None),
    "history": (("/history", "/api/conversations", "/api/history"), 2, None),
    "audit": (("/review", "/audit"), 1, "compliance"),  # the compliance review page
    "question": (("/api/ask/stream",), 2, None),
}


@dataclass(slots=True)
class Plan:
    """The actions kept after probing the server, with their paths."""

    actions: dict[str, tuple[str, int, str | None]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def choose(self, rng: random.Random, role: str) -> tuple[str, str]:
        allowed = [(k, v) for k, v in self.actions.items() if v[2] in (None, role)]
        name, (path, _, _) = rng.choices(allowed, weights=[v[1] for _, v in allowed])[0]
        return name, path


async def probe(clients: dict[str, httpx.AsyncClient], mix: Mix) -> Plan:
    """Keep each GET action whose path exists for the role that uses it."""
    plan = Plan()
    for name, (paths, weight, role) in mix.items():
        if name == "question":
            plan.actions[name] = (paths[0], weight, role)
            continue
        client = clients.get(role or "employee") or next(iter(clients.values()))
        found = None
        for path in paths:
            status = (await client.get(path)).status_code
            if status == 404:
                continue
            if status >= 400:
                plan.notes.append(f"`{name}` dropped: GET {path} answered {status}")
                found = ""
                break
            found = path
            break
        if found:
            plan.actions[name] = (found, weight, role)
        elif found is None:
            plan.notes.append(f"`{name}` dropped from the mix: none of {list(paths)} exists (404)")
    return plan


class Run:
    """One load run: the users, the RSS sampler and what they record."""

    def __init__(
        self,
        server: Server,
        users: int,
        seconds: float,
        *,
        login: Login | None = None,
        think_s: tuple[float, float] = (0.2, 1.0),
        drain_s: float = 30.0,
        seed: int = 1,
        mix: Mix | None = None,
    ) -> None:
        host = urlsplit(server.base_url).hostname or ""
        if host not in LOOPBACK:
            raise ValueError(f"the load test only targets loopback, not {host!r}")
        if not 1 <= users <= MAX_USERS or not 0 < seconds <= MAX_SECONDS:
            raise ValueError(f"users must be 1..{MAX_USERS} and seconds 0..{MAX_SECONDS}")
        if users > len(server.accounts):
            raise ValueError(f"{users} users but only {len(server.accounts)} accounts")
        self.server = server
        self.users = users
        self.seconds = seconds
        self.login = login
        self.think_s = think_s
        self.drain_s = drain_s
        self.seed = seed
        self.mix = mix or MIX
        self.result = LoadResult(users=users, seconds=seconds, server=server.description)
        self._t0 = 0.0

    def now(self) -> float:
        return time.monotonic() - self._t0

    def _client(self) -> httpx.AsyncClient:
        timeout = httpx.Timeout(10.0, read=self.server.request_timeout_s + 30)
        return httpx.AsyncClient(base_url=self.server.base_url, timeout=timeout)

    async def execute(self) -> LoadResult:
        """Probe the routes, sign every user in at once, then run the mix for ``seconds``."""
        self._t0 = time.monotonic()
        probes: dict[str, httpx.AsyncClient] = {}
        try:
            first = probes["employee"] = self._client()
            login, note = (self.login, "") if self.login else await pick_login(first)
            if note:
                self.result.notes.append(note)
            officer = next((a for a in self.server.accounts if a.role == "compliance"), None)
            await login(first, self.server.accounts[0])
            if officer is not None:
                probes["compliance"] = self._client()
                await login(probes["compliance"], officer)
            plan = await probe(probes, self.mix)
        finally:
            for c in probes.values():
                await c.aclose()
        self.result.notes += plan.notes
        self.result.mix = {k: v[0] for k, v in plan.actions.items()}

        clients = [self._client() for _ in range(self.users)]
        tasks: list[asyncio.Task[None]] = []
        try:
            # the sign-in storm: every user at once, before the clock of the mix starts
            stop = asyncio.Event()
            sampler = asyncio.create_task(self._sample_rss(stop, self.result.login_rss))
            self._t0 = time.monotonic()
            signed = await asyncio.gather(
                *(
                    self._sign_in(c, a, login)
                    for c, a in zip(clients, self.server.accounts, strict=False)
                )
            )
            self.result.login_wall_s = self.now()
            stop.set()
            await sampler

            stop = asyncio.Event()
            sampler = asyncio.create_task(self._sample_rss(stop, self.result.rss))
            self._t0 = time.monotonic()
            tasks = [
                asyncio.create_task(self._user(i, c, plan))
                for i, (c, ok) in enumerate(zip(clients, signed, strict=True))
                if ok
            ]
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=self.seconds + self.drain_s)
                for t in pending:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self.result.cut = len(pending)
            self.result.wall_s = self.now()
            stop.set()
            await sampler
        finally:
            for c in clients:
                await c.aclose()
        for t in tasks:
            if not t.cancelled() and t.exception() is not None:
                self.result.user_failures.append(repr(t.exception()))
        return self.result

    async def _sign_in(self, client: httpx.AsyncClient, account: Account, login: Login) -> bool:
        started = self.now()
        try:
            await login(client, account)
        except Exception as exc:
            self.result.samples.append(
                Sample("login", started, self.now() - started, 0, error=repr(exc))
            )
            return False
        self.result.samples.append(Sample("login", started, self.now() - started, 200))
        return True

    async def _sample_rss(
        self, stop: asyncio.Event, into: list[tuple[float, int]], every_s: float = 0.5
    ) -> None:
        try:
            proc = psutil.Process(self.server.pid)
        except psutil.NoSuchProcess:
            return
        while not stop.is_set():
            try:
                into.append((self.now(), proc.memory_info().rss))
            except psutil.NoSuchProcess:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)

    async def _user(self, index: int, client: httpx.AsyncClient, plan: Plan) -> None:
        """One signed-in user until the deadline: think, act, and respect Retry-After."""
        rng = random.Random(self.seed * 1000 + index)
        role = self.server.accounts[index].role
        ask_after = 0.0
        while True:
            await asyncio.sleep(rng.uniform(*self.think_s))
            if self.now() >= self.seconds:
                return
            name, path = plan.choose(rng, role)
            if name == "question":
                if self.now() < ask_after and "page" in plan.actions:  # browse meanwhile
                    name, path = "page", plan.actions["page"][0]
                elif self.now() < ask_after:
                    continue
                else:
                    wait = await self._ask(client, path, rng.choice(QUESTIONS))
                    ask_after = self.now() + wait
                    continue
            await self._get(client, name, path)

    async def _get(self, client: httpx.AsyncClient, name: str, path: str) -> None:
        started = self.now()
        try:
            r = await client.get(path)
            status, error = r.status_code, None
        except httpx.HTTPError as exc:
            status, error = 0, f"{type(exc).__name__}: {exc}"
        self.result.samples.append(Sample(name, started, self.now() - started, status, error))

    async def _ask(self, client: httpx.AsyncClient, path: str, question: str) -> float:
        """One streamed question, read to the end; returns how long to wait before the next."""
        q = QuestionSample(submitted=self.now())
        self.result.questions.append(q)
        try:
            async with client.stream("POST", path, json={"question": question}) as r:
                q.accepted = self.now()
                q.status = r.status_code
                if r.status_code != 200:
                    q.retry_after = r.headers.get("retry-after")
                    q.error = _error_code(await r.aread(), r.status_code)
                    q.done = self.now()
                    return _seconds(q.retry_after)
                event = ""
                async for line in r.aiter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                        if event == "queue":
                            q.queued = True
                        elif event == "token" and q.first_token is None:
                            q.first_token = self.now()
                    elif line.startswith("data:") and event == "error":
                        q.error = str(json.loads(line[5:]).get("error", "error"))
                    elif line.startswith("data:") and event == "done":
                        q.refused = bool(json.loads(line[5:]).get("refused"))
                q.done = self.now()
        except (httpx.HTTPError, json.JSONDecodeError) as exc:
            q.error = f"{type(exc).__name__}: {exc}"
            q.done = self.now()
        return 0.0


def _error_code(body: bytes, status: int) -> str:
    """The ``error`` field of our JSON error bodies, else the status."""
    try:
        return str(json.loads(body).get("error", status))
    except (ValueError, AttributeError):
        return str(status)


def _seconds(header: str | None) -> float:
    try:
        return max(0.0, float(header)) if header else 1.0
    except ValueError:
        return 1.0


def run_load(
    server: Server, users: int, seconds: float, *, login: Login | None = None, **options: object
) -> LoadResult:
    """Run the load from synchronous code (its own event loop)."""
    return asyncio.run(Run(server, users, seconds, login=login, **options).execute())  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    import os
    import shutil
    import tempfile

    from tests.bench.load_server import inprocess_server, load_settings, subprocess_server

    p = argparse.ArgumentParser(prog="python -m tests.bench.load", description=__doc__)
    p.add_argument("--users", type=int, nargs="+", default=[10, 100], help="one run per value")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--model", default="smollm2-135m", help="catalogue name (subprocess server)")
    p.add_argument("--echo", action="store_true", help="in-process app with stand-in models")
    p.add_argument("--drain", type=float, default=30.0, help="grace for in-flight requests")
    p.add_argument("--without", action="append", default=[], choices=list(MIX), help="drop")
    p.add_argument("--server-log", type=Path, help="keep the server's log here")
    args = p.parse_args(argv)
    load_before = os.getloadavg()
    results: list[LoadResult] = []
    with tempfile.TemporaryDirectory(prefix="assistant-load-") as tmp:
        if args.echo:
            from assistant.answering.generator import EchoGenerator
            from assistant.models.embed import HashEmbedder
            from assistant.resources import Resources

            settings = load_settings(data_dir=Path(tmp) / "data", models_dir_override=Path(tmp))
            resources = Resources(settings, embedder=HashEmbedder(), generator=EchoGenerator())
            server_cm = inprocess_server(settings, resources, max(args.users))
        else:
            models = Path(os.environ.get("ASSISTANT_MODELS_DIR", "data/models")).resolve()
            server_cm = subprocess_server(
                Path(tmp), model=args.model, models_dir=models, users=max(args.users)
            )
        with server_cm as server:
            for users in args.users:
                print(f"running {users} users × {args.seconds:.0f} s …", file=sys.stderr)
                mix = {k: v for k, v in MIX.items() if k not in args.without}
                results.append(run_load(server, users, args.seconds, drain_s=args.drain, mix=mix))
            if args.server_log and server.log_path is not None:
                shutil.copyfile(server.log_path, args.server_log)
    load_after = os.getloadavg()
    print(render_markdown(results))
    print(
        f"\nLoad average before / after: {load_before[0]:.1f} / {load_after[0]:.1f} "
        f"({os.cpu_count()} cores; the load generator shares them with the server)."
    )
    return 0 if all(r.healthy() for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
