"""What the ingest pipeline needs of a parser (ingest/pipeline.py, ingest/prepare.py).

Any object with ``parse`` and ``close`` will do: the isolated pool (pool.py), or the
eval's and the bench's light in-process readers. One that can also start parses in
the background (``submit``, ``workers``) is a ``ConcurrentParser``, and the pipeline
then parses the next files ahead (ahead.py) while it embeds and commits this one.
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Protocol, runtime_checkable

from ingest.parsing.parse import ParsedDocument


class Parser(Protocol):
    def parse(self, path: Path) -> ParsedDocument: ...
    def close(self) -> None: ...


@runtime_checkable
class ConcurrentParser(Parser, Protocol):
    """A parser with ``workers`` processes that can start parses ahead of their turn."""

    workers: int

    def submit(self, path: Path) -> Future[ParsedDocument]: ...
