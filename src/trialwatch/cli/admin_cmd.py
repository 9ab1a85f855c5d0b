"""``trialwatch admin``: the web admin's one account (its password hash)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from trialwatch.errors import ConfigError

admin_app = typer.Typer(help="The web admin at /admin.", no_args_is_help=True)


@admin_app.command("hash-password")
def hash_password(
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Read the password from one line of stdin.")
    ] = False,
) -> None:
    """Print an argon2 hash of a password for TRIALWATCH_ADMIN_PASSWORD_HASH."""
    from argon2 import PasswordHasher

    if stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    else:
        password = str(typer.prompt("Password", hide_input=True))
        again = str(typer.prompt("Repeat the password", hide_input=True))
        if password != again:
            raise ConfigError("the passwords do not match")
    if not password:
        raise ConfigError("the password is empty")
    typer.echo(PasswordHasher().hash(password))
