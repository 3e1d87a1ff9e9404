"""Map errors to CLI messages and exit codes -- the one place that does."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import click

from assistant.errors import AssistantError

P = ParamSpec("P")
R = TypeVar("R")

EXIT_ERROR = 1


def cli_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Print an ``AssistantError`` as ``error: …`` (and its hint) and exit non-zero."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except AssistantError as exc:
            click.secho(f"error: {exc.message}", fg="red", err=True)
            if exc.hint:
                click.echo(f"hint: {exc.hint}", err=True)
            sys.exit(EXIT_ERROR)

    return wrapper
