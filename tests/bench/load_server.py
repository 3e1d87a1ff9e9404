"""The server a load test runs against, started by the load test itself, on loopback only.

Two kinds: ``subprocess_server`` runs ``assistant serve`` with a temporary data
dir and a real model (the benchmark), ``inprocess_server`` serves an app built
here with the deterministic stand-ins (the smoke test in ``make test``). Both
ingest the sample documents and provision the accounts the simulated users
sign in with; every tenth account is a compliance officer (the audit pages).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from assistant.resources import Resources
from assistant.settings import Settings
from tests.live import free_port, live_server

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"
COLLECTION = "sample"
GROUP = "load"
PASSWORD = "load test passphrase, not a secret"

#: What a load-test server changes from the defaults, and why.
LOAD_SETTINGS: dict[str, Any] = {
    # every simulated user signs in from 127.0.0.1: the per-address sign-in budget
    # (5 a minute) is a guard against guessing, not a capacity limit to measure here
    "login_attempts_per_minute": 100_000,
}


def load_settings(**values: Any) -> Settings:
    """Settings for an in-process load-test server: ``LOAD_SETTINGS`` plus ``values``."""
    return Settings(**{**LOAD_SETTINGS, **values})


def server_env() -> dict[str, str]:
    return {f"ASSISTANT_{k.upper()}": str(v) for k, v in LOAD_SETTINGS.items()}


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    password: str
    role: str  # employee | compliance


@dataclass(slots=True)
class Server:
    base_url: str
    pid: int  # whose RSS to sample
    accounts: list[Account]
    queue_max_waiting: int
    request_timeout_s: float
    description: str
    log_path: Path | None = None
    notes: list[str] = field(default_factory=list)


def accounts_for(users: int) -> list[Account]:
    return [
        Account(f"load-{i:03d}", PASSWORD, "compliance" if i % 10 == 4 else "employee")
        for i in range(users)
    ]


def provision(resources: Resources, accounts: list[Account]) -> None:
    """Create the accounts (argon2 hashing: in parallel) and open the sample collection."""
    from assistant.auth.principal import Level

    access = resources.access
    existing = {a.name for a in accounts if access.store.user(a.name) is not None}

    def add(a: Account) -> None:
        access.add_user(
            a.name,
            a.password,
            role=a.role,
            groups=frozenset({GROUP}),
            clearance=Level.public,
            actor="load-test",
        )

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(add, [a for a in accounts if a.name not in existing]))
    access.set_collection(COLLECTION, frozenset({GROUP}), Level.public, actor="load-test")


@contextmanager
def inprocess_server(
    settings: Settings, resources: Resources, users: int, *, ingest: bool = True
) -> Iterator[Server]:
    """The app in this process (uvicorn in a thread); ``resources`` may hold stand-in models.

    Build ``settings`` with ``load_settings`` so that every user can sign in from loopback.
    """
    from assistant.server.app import create_app

    if ingest:
        resources.ingestor.ingest([SAMPLE], COLLECTION)
    accounts = accounts_for(users)
    provision(resources, accounts)
    app = create_app(settings, resources, warm_up=False)
    with live_server(app) as url:
        yield Server(
            base_url=url,
            pid=os.getpid(),
            accounts=accounts,
            queue_max_waiting=settings.queue_max_waiting,
            request_timeout_s=settings.request_timeout_s,
            description=f"in-process app, generator {getattr(resources.generator, 'name', '?')}",
        )


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "assistant.cli.main", *args]


@contextmanager
def subprocess_server(
    work_dir: Path,
    *,
    model: str,
    models_dir: Path,
    users: int,
    extra_env: dict[str, str] | None = None,
    start_timeout_s: float = 600,
) -> Iterator[Server]:
    """``assistant serve`` on a free loopback port with its own data dir; stopped afterwards."""
    data_dir = work_dir / "data"
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")},
        "ASSISTANT_DATA_DIR": str(data_dir),
        "ASSISTANT_MODELS_DIR": str(models_dir),
        "ASSISTANT_MODEL": model,
        "HF_HUB_OFFLINE": "1",
        **server_env(),
        **(extra_env or {}),
    }
    subprocess.run(
        _cli("ingest", str(SAMPLE), "--collection", COLLECTION),
        env=env,
        check=True,
        cwd=work_dir,
        capture_output=True,
    )
    settings = Settings(data_dir=data_dir, models_dir_override=models_dir, model=model)
    accounts = accounts_for(users)
    resources = Resources(settings)
    try:
        provision(resources, accounts)
    finally:
        resources.close()

    log_path = work_dir / "server.log"
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            _cli("serve", "--host", "127.0.0.1", "--port", str(port)),
            env=env,
            cwd=work_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url, proc, log_path, start_timeout_s)
            yield Server(
                base_url=url,
                pid=proc.pid,
                accounts=accounts,
                queue_max_waiting=int(env.get("ASSISTANT_QUEUE_MAX_WAITING", 16)),
                request_timeout_s=float(env.get("ASSISTANT_REQUEST_TIMEOUT_S", 120)),
                description=f"`assistant serve`, model {model}",
                log_path=log_path,
            )
        finally:
            _stop(proc, log)


def _wait_ready(url: str, proc: subprocess.Popen[Any], log_path: Path, timeout_s: float) -> None:
    """Until /readyz says the index is open and the model verified (it loads the model)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"the server exited with {proc.returncode}:\n{tail}")
        try:
            if httpx.get(f"{url}/readyz", timeout=30).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the server was not ready within {timeout_s:.0f} s")


def _stop(proc: subprocess.Popen[Any], log: IO[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    log.flush()


def batching_choice(server: Server) -> str:
    """What each model worker chose at start (``PARALLEL=auto``), from /readyz."""
    import httpx

    try:
        checks = httpx.get(f"{server.base_url}/readyz", timeout=30).json()["checks"]
    except (httpx.HTTPError, ValueError, KeyError):
        return ""
    found: list[str] = []

    def walk(x: object) -> None:
        if isinstance(x, dict):
            b = x.get("batching")
            if isinstance(b, dict):
                found.append(f"{b.get('capacity')} at once (gain {b.get('gain')}x)")
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(checks)
    return f"; PARALLEL=auto chose {', '.join(found)}" if found else ""
