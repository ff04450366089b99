"""The one place where a command, the demo, a DAG task or a dashboard page gets its
database engine and its model.

:func:`open_database` and :func:`load_scorer` turn every database and model problem a
user can cause (a missing file, an unreachable server, a driver that is not installed,
a schema that was never migrated, a model directory without a card) into a
:class:`~pipeline.errors.FinsentError` with a one-line message; :func:`describe_database_error`
does the same for an error raised later, while a stage runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from pipeline.db import make_engine, upgrade_database
from pipeline.errors import FinsentError
from pipeline.settings import Settings

if TYPE_CHECKING:
    from models import Scorer

# The table every finsent schema has had since the first migration.
_MARKER_TABLE = "feeds"


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip()
    return text.splitlines()[0] if text else type(original).__name__


def describe_database_error(exc: BaseException, *, url: str | None = None) -> str:
    """One line for a database error a user can act on (no traceback, no password)."""
    where = ""
    if url:
        try:
            where = f" at {make_url(url).render_as_string(hide_password=True)}"
        except ArgumentError:
            where = ""
    if isinstance(exc, NoSuchModuleError | ModuleNotFoundError | ImportError):
        return f"database driver not installed{where}: {_first_line(exc)}"
    message = _first_line(exc)
    if "no such table" in message or "does not exist" in message or "UndefinedTable" in message:
        return f"database{where} has no finsent schema yet ({message}); run `finsent db upgrade`"
    return f"database error{where}: {message}"


def _sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for in-memory databases and other backends."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def _engine(url: str) -> Engine:
    try:
        return make_engine(url)
    except (NoSuchModuleError, ModuleNotFoundError, ImportError) as exc:
        raise FinsentError(describe_database_error(exc, url=url)) from None
    except ArgumentError as exc:
        raise FinsentError(f"cannot read FINSENT_DATABASE_URL: {_first_line(exc)}") from None


def open_database(settings: Settings, *, migrate: bool) -> Engine:
    """The engine for ``settings.database_url``, ready for finsent's stages.

    ``migrate=True`` creates or upgrades the schema first (``finsent db upgrade``,
    ``finsent run``, the demo). ``migrate=False`` only checks that the schema is there,
    and never creates a database file on the way: a SQLite path that does not exist is
    reported as such.
    """
    url = settings.database_url
    try:
        sqlite_file = _sqlite_file(url)
    except ArgumentError:
        raise FinsentError(
            f"FINSENT_DATABASE_URL is not a database URL: {url!r} "
            "(e.g. sqlite:///finsent.db or postgresql+psycopg://user@host/db)"
        ) from None
    if migrate:
        if sqlite_file is not None and not sqlite_file.parent.is_dir():
            raise FinsentError(f"cannot create the database {sqlite_file}: no such directory")
        try:
            upgrade_database(url)
        except (SQLAlchemyError, OSError, ImportError) as exc:
            raise FinsentError(describe_database_error(exc, url=url)) from None
    elif sqlite_file is not None and not sqlite_file.is_file():
        raise FinsentError(
            f"no database at {sqlite_file}; run `finsent db upgrade` (or `finsent run`) first"
        )
    engine = _engine(url)
    try:
        has_schema = inspect(engine).has_table(_MARKER_TABLE)
    except (DBAPIError, SQLAlchemyError) as exc:
        engine.dispose()
        raise FinsentError(describe_database_error(exc, url=url)) from None
    if not has_schema:
        engine.dispose()
        raise FinsentError("the database has no finsent schema yet; run `finsent db upgrade` first")
    return engine


def load_scorer(
    settings: Settings,
    *,
    model_dir: Path | str | None = None,
    device: str | None = None,
    labels_articles: bool = True,
    **options: Any,
) -> Scorer:
    """The model from ``model_dir`` (default ``FINSENT_MODEL_DIR``, else the shipped one)
    on ``device`` (default ``FINSENT_DEVICE``), quantised as ``FINSENT_QUANTIZE`` says.

    ``labels_articles``: refuse, before any work, a model that cannot give an article both
    a topic and a sentiment (a single-task teacher); only evaluation passes False."""
    from models import SHIPPED_MODEL_DIR, Scorer

    directory = Path(model_dir or settings.model_dir or SHIPPED_MODEL_DIR)
    if not (directory / "model_card.json").is_file():
        raise FinsentError(f"no model directory at {directory} (model_card.json missing)")
    try:
        scorer = Scorer.from_pretrained(
            directory,
            device=device or settings.device,
            quantize=options.pop("quantize", settings.quantize),
            **options,
        )
        if labels_articles:
            scorer.check_labels_articles()
        return scorer
    except (ValueError, OSError, RuntimeError) as exc:  # --device cuda without CUDA, bad files
        raise FinsentError(f"cannot load the model from {directory}: {_first_line(exc)}") from None
