"""Runtime settings: one pydantic-settings class, read lazily from ``FINSENT_*``.

Nothing is read at import time; call :func:`get_settings` where the value is needed.
Tests that change the environment call ``get_settings.cache_clear()``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DAY = 24 * 3600
Seconds = Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)]
Probability = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
Port = Annotated[int, Field(ge=1, le=65535)]

# Values that mean "fill me in": refused for every secret (and by the deployment init job).
PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "change-me", "changethis", "secret", "password", "xxx"}
)


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every runtime knob of finsent. Environment variables are ``FINSENT_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="FINSENT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite:///finsent.db"
    model_dir: Path | None = None  # None: the checkpoint shipped with `models`
    device: Literal["auto", "cpu", "cuda"] = "auto"
    quantize: Literal["none", "int8"] | None = None  # None: the model package's default (fp32)

    # Ingestion
    allow_private_networks: bool = False
    user_agent: str = "finsent/0.1 (+https://github.com/finsent/finsent; financial news monitor)"
    fetch_connect_timeout: Seconds = 10.0
    fetch_read_timeout: Seconds = 30.0
    fetch_total_timeout: Seconds = 60.0  # whole download, however slowly the bytes trickle in
    fetch_max_bytes: Annotated[int, Field(ge=1024, le=1024**3)] = 10 * 1024 * 1024
    fetch_max_redirects: Annotated[int, Field(ge=0, le=20)] = 5
    fetch_concurrency: Annotated[int, Field(ge=1, le=256)] = 16
    fetch_per_host: Annotated[int, Field(ge=1, le=64)] = 4
    feed_min_interval_seconds: Annotated[int, Field(ge=0, le=7 * DAY)] = 300
    backoff_base_seconds: Annotated[int, Field(ge=1, le=DAY)] = 300
    backoff_max_seconds: Annotated[int, Field(ge=1, le=30 * DAY)] = DAY

    # Scoring
    score_batch_size: Annotated[int, Field(ge=1, le=65536)] = 64

    # Spike detection (pipeline.alerts.rule; defaults documented there)
    detect_window_hours: Annotated[float, Field(gt=0, le=24 * 7, allow_inf_nan=False)] = 2.0
    detect_baseline_days: Annotated[float, Field(gt=0, le=365, allow_inf_nan=False)] = 7.0
    detect_alpha: Probability = 0.001
    detect_lift_alpha: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.025
    detect_min_volume: Annotated[int, Field(ge=1, le=1_000_000)] = 10
    detect_min_lift: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = 0.15
    detect_prior_strength: Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)] = 50.0
    detect_resolve_alpha: Probability = 0.01
    detect_resolve_lift: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = 0.10
    detect_min_baseline_volume: Annotated[int, Field(ge=0, le=100_000_000)] = 100
    # Consecutive evaluations before pending -> firing.
    detect_for_evaluations: Annotated[int, Field(ge=1, le=1000)] = 1
    detect_top_headlines: Annotated[int, Field(ge=0, le=100)] = 5

    # Alert delivery
    delivery_max_attempts: Annotated[int, Field(ge=1, le=100)] = 8
    delivery_backoff_base_seconds: Annotated[int, Field(ge=1, le=DAY)] = 60
    delivery_backoff_max_seconds: Annotated[int, Field(ge=1, le=7 * DAY)] = 3600
    # The whole of one delivery attempt, however slowly a receiver answers.
    delivery_timeout_seconds: Annotated[float, Field(gt=0, le=300, allow_inf_nan=False)] = 10.0
    smtp_host: str | None = None
    smtp_port: Port = 587
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_from: str = "finsent@localhost"
    alert_email_to: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_secret: SecretStr | None = None
    dashboard_url: str = "http://localhost:8501"
    outbox_dir: Path = Path("outbox")

    # Dashboard (`finsent dashboard`)
    dashboard_host: str = "127.0.0.1"
    dashboard_port: Port = 8501
    # When set, every page asks for it first (see README: never expose the dashboard without).
    dashboard_password: SecretStr | None = None

    # Orchestration (dags/): how the work is split over Airflow workers.
    ingest_batch_size: Annotated[int, Field(ge=1, le=10_000)] = 25  # feeds per mapped task
    score_range_size: Annotated[int, Field(ge=1, le=10_000_000)] = 2000  # articles per task
    # The Airflow queue (and pool) for scoring, e.g. "gpu" for GPU workers; None: the default.
    score_queue: str | None = None

    @field_validator("alert_email_to", "webhook_urls", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("webhook_urls")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{url!r} is not an http(s) URL")
        return value

    @field_validator("smtp_password", "webhook_secret", "dashboard_password")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder; set a real secret or leave it unset")
        return value


def allowed_range(name: str) -> str | None:
    """The bounds of a numeric setting as text (``[1, 65535]``, ``(0, 1)``), or None."""
    field = Settings.model_fields.get(name)
    if field is None:
        return None
    low = high = None
    low_open = high_open = False
    for item in field.metadata:
        for attribute, is_low, is_open in (
            ("ge", True, False),
            ("gt", True, True),
            ("le", False, False),
            ("lt", False, True),
        ):
            value = getattr(item, attribute, None)
            if value is None:
                continue
            if is_low:
                low, low_open = value, is_open
            else:
                high, high_open = value, is_open
    if low is None and high is None:
        return None
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    return f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"


def describe_settings_error(exc: ValidationError) -> str:
    """One line naming each bad ``FINSENT_*`` variable, what is wrong and what is allowed."""
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        name = "FINSENT_" + "_".join(str(part) for part in error["loc"]).upper()
        message = str(error["msg"]).removeprefix("Value error, ")
        bounds = allowed_range(field)
        problems.append(f"{name}: {message}" + (f" (allowed: {bounds})" if bounds else ""))
    return "invalid settings: " + "; ".join(problems)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return Settings()
