"""``assistant users …`` and ``assistant collections …``: accounts and collection access."""

from __future__ import annotations

import getpass
import os
import secrets

import click
from rich.table import Table

from assistant.audit import keys
from assistant.auth.principal import OPERATOR, ROLES, Level, Principal
from assistant.auth.store import parse_groups
from assistant.cli.errors import cli_errors
from assistant.cli.progress import console
from assistant.errors import NotFound
from assistant.resources import Resources
from assistant.settings import Settings

LEVELS = [level.name for level in Level]
#: Who the audit log names for changes made at the server's console.
CONSOLE_ACTOR = f"console:{os.environ.get('SUDO_USER') or getpass.getuser()}"


def _resources(ctx: click.Context) -> Resources:
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return Resources(settings)


def principal_for(resources: Resources, user: str | None) -> Principal:
    """``--as USER``: answer exactly as that user would be answered; none: the operator."""
    if user is None:
        return OPERATOR
    account = resources.access.store.user(user)
    if account is None or account.disabled:
        raise NotFound(f"no enabled user named {user}")
    return account.principal("cli")


@click.group()
def users() -> None:
    """Local accounts (argon2-hashed passwords) and their API tokens."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="employee", show_default=True)
@click.option("--groups", default="", help="Comma-separated groups, e.g. hr,finance")
@click.option("--clearance", type=click.Choice(LEVELS), default="public", show_default=True)
@click.option(
    "--password",
    envvar="ASSISTANT_NEW_PASSWORD",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Asked for when not given (or set ASSISTANT_NEW_PASSWORD)",
)
@click.pass_context
@cli_errors
def users_add(
    ctx: click.Context, name: str, role: str, groups: str, clearance: str, password: str
) -> None:
    res = _resources(ctx)
    res.access.add_user(
        name,
        password,
        role=role,
        groups=parse_groups(groups),
        clearance=Level[clearance],
        actor=CONSOLE_ACTOR,
    )
    console.print(f"added {name} ({role}, groups: {groups or '-'}, clearance: {clearance})")
    res.close()


@users.command("disable")
@click.argument("name")
@click.pass_context
@cli_errors
def users_disable(ctx: click.Context, name: str) -> None:
    res = _resources(ctx)
    res.access.disable_user(name, actor=CONSOLE_ACTOR)
    console.print(f"disabled {name}; their API tokens are revoked")
    res.close()


@users.command("list")
@click.pass_context
@cli_errors
def users_list(ctx: click.Context) -> None:
    res = _resources(ctx)
    table = Table("user", "role", "groups", "clearance", "status")
    for u in res.access.store.users():
        status = "disabled" if u.disabled else "active"
        table.add_row(u.name, u.role, ",".join(sorted(u.groups)), u.clearance.name, status)
    console.print(table)
    res.close()


@users.command("token")
@click.argument("name")
@click.option("--label", default="", help="What the token is for")
@click.pass_context
@cli_errors
def users_token(ctx: click.Context, name: str, label: str) -> None:
    """Issue an API token (shown once) for scripts: Authorization: Bearer TOKEN."""
    res = _resources(ctx)
    token = res.access.store.issue_token(name, label)
    res.audit.record(
        "user_change", CONSOLE_ACTOR, {"action": "token", "user": name, "label": label}
    )
    click.echo(token)
    res.close()


DEMO_USERS = (("demo", "employee"), ("officer", "compliance"))


@users.command("demo")
@click.option("--collection", default="sample", show_default=True)
@click.pass_context
@cli_errors
def users_demo(ctx: click.Context, collection: str) -> None:
    """Set up the demo: COLLECTION readable by group "staff", users demo and officer with
    fresh random passwords, and the audit signing key. Prints how to sign in."""
    res = _resources(ctx)
    settings = res.settings
    if not settings.audit_key_file.exists():
        keys.generate(settings.audit_key_file, settings.audit_public_key_file)
    if collection not in res.access.store.collection_rules():
        res.access.set_collection(
            collection, frozenset({"staff"}), Level.public, actor=CONSOLE_ACTOR
        )
    lines = []
    for name, role in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        if res.access.store.user(name) is None:
            res.access.add_user(
                name,
                password,
                role=role,
                groups=frozenset({"staff"}),
                clearance=Level.public,
                actor=CONSOLE_ACTOR,
            )
        else:
            res.access.store.set_password(name, password)
            res.audit.record(
                "user_change", CONSOLE_ACTOR, {"action": "password_reset", "user": name}
            )
        lines.append(f"  {name:8} {password}   ({role})")
    url = f"http://{settings.host}:{settings.port}"
    click.echo(f"\nSign in at {url} with one of these demo accounts:\n" + "\n".join(lines) + "\n")
    res.close()


@click.group()
def collections() -> None:
    """Who may read each collection. A collection with no rule is visible to nobody."""


@collections.command("set")
@click.argument("name")
@click.option("--groups", required=True, help="Comma-separated groups allowed to read it")
@click.option("--label", type=click.Choice(LEVELS), required=True, help="Classification")
@click.option(
    "--redact-pii/--no-redact-pii",
    default=None,
    help="Mask personal data in its answers, sources and exports (default: unchanged)",
)
@click.pass_context
@cli_errors
def collections_set(
    ctx: click.Context, name: str, groups: str, label: str, redact_pii: bool | None
) -> None:
    res = _resources(ctx)
    rule = res.access.set_collection(
        name, parse_groups(groups), Level[label], actor=CONSOLE_ACTOR, redact_pii=redact_pii
    )
    masked = ", personal data masked" if rule.redact_pii else ""
    console.print(f"{name}: groups {groups}, label {label}{masked}")
    res.close()


@collections.command("list")
@click.pass_context
@cli_errors
def collections_list(ctx: click.Context) -> None:
    res = _resources(ctx)
    rules = res.access.store.collection_rules()
    known = {d.collection for d in res.store.documents()} | set(rules)
    table = Table("collection", "groups", "label", "documents", "redact PII")
    counts: dict[str, int] = {}
    for d in res.store.documents():
        counts[d.collection] = counts.get(d.collection, 0) + 1
    for name in sorted(known):
        rule = rules.get(name)
        table.add_row(
            name,
            ",".join(sorted(rule.groups)) if rule else "[red]nobody (no rule)[/red]",
            rule.label.name if rule else "-",
            str(counts.get(name, 0)),
            "yes" if rule is not None and rule.redact_pii else "-",
        )
    console.print(table)
    res.close()
