"""The docker-compose init job's steps that need more than a shell: ``python -m pipeline.deploy``.

* ``check-secrets NAME...``: refuse to start when a secret is unset, empty or one of
  the placeholders finsent refuses everywhere (``changeme``, ...), naming each one.
  ``.env.example`` ships exactly those placeholders, so a copy left unedited stops the
  deployment before anything runs.
* ``create-database NAME``: create a PostgreSQL database if it does not exist yet
  (Airflow's metadata database beside finsent's, on the same server), connecting with
  the ``--url`` given; idempotent, so the init job can run on every ``up``.
* ``airflow-admin``: write the Airflow admin's password (``AIRFLOW_ADMIN_PASSWORD``)
  into the password file of Airflow's simple auth manager, so that the UI's login is
  the one from ``.env`` and not a generated one printed in a log.

Each step prints one line and exits 0, or prints ``finsent: error: ...`` and exits 1.
Nothing here imports Airflow.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipeline.errors import FinsentError

# The same placeholders the settings refuse for finsent's own secrets.
from pipeline.settings import PLACEHOLDER_SECRETS

# Shorter than this cannot be a real key or password for a server on a network.
MIN_SECRET_LENGTH = 12


def secret_problems(names: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """One entry per secret in ``names`` that is unset, empty, too short or a placeholder."""
    problems = []
    for name in names:
        value = environ.get(name, "").strip()
        if not value:
            problems.append(f"{name} is not set")
        elif value.lower() in PLACEHOLDER_SECRETS:
            problems.append(f"{name} is a placeholder")
        elif len(value) < MIN_SECRET_LENGTH:
            problems.append(f"{name} is shorter than {MIN_SECRET_LENGTH} characters")
    return problems


def check_secrets(names: Sequence[str], environ: Mapping[str, str]) -> str:
    problems = secret_problems(names, environ)
    if problems:
        raise FinsentError(
            "refusing to start: " + "; ".join(problems) + " (set real values in .env)"
        )
    return f"{len(names)} secrets set"


def create_database(*, url: str, name: str) -> str:
    """Create database ``name`` on the server of ``url`` unless it exists."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise FinsentError(f"create-database needs a PostgreSQL URL, not {parsed.drivername}")
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists:
                return f"database {name} exists"
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = parsed.render_as_string(hide_password=True)
        raise FinsentError(f"cannot create database {name} at {where}: {first}") from None
    return f"database {name} created"


def write_admin_password(*, path: Path, user: str, password: str) -> str:
    """Store ``user``'s password in the simple auth manager's JSON file (mode 0600)."""
    problems = secret_problems(["AIRFLOW_ADMIN_PASSWORD"], {"AIRFLOW_ADMIN_PASSWORD": password})
    if problems:
        raise FinsentError("refusing to start: " + "; ".join(problems))
    path.parent.mkdir(parents=True, exist_ok=True)
    existing: dict[str, str] = {}
    if path.is_file():
        try:
            existing = json.loads(path.read_text(encoding="utf-8") or "{}")
        except ValueError:
            existing = {}
    existing[user] = password
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # also when the file existed with a wider mode
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(existing, file)
        file.write("\n")
    return f"Airflow user {user} has the password from AIRFLOW_ADMIN_PASSWORD"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.deploy", description=__doc__)
    steps = parser.add_subparsers(dest="step", required=True)
    secrets = steps.add_parser("check-secrets", help="refuse unset or placeholder secrets")
    secrets.add_argument("names", nargs="+", metavar="NAME")
    database = steps.add_parser("create-database", help="create a PostgreSQL database")
    database.add_argument("name")
    database.add_argument("--url", required=True, help="any database URL on that server")
    admin = steps.add_parser("airflow-admin", help="set the Airflow admin's password")
    admin.add_argument("--file", type=Path, required=True, help="the passwords JSON file")
    admin.add_argument("--user", default="admin")
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = os.environ if environ is None else environ
    try:
        if args.step == "check-secrets":
            message = check_secrets(args.names, env)
        elif args.step == "create-database":
            message = create_database(url=args.url, name=args.name)
        else:
            message = write_admin_password(
                path=args.file, user=args.user, password=env.get("AIRFLOW_ADMIN_PASSWORD", "")
            )
    except FinsentError as exc:
        print(f"finsent: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
