"""Runtime settings: one pydantic-settings class, read lazily from ``FINSENT_*``.

Nothing is read at import time; call :func:`get_settings` where the value is needed.
Tests that change the environment call ``get_settings.cache_clear()``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_PLACEHOLDER_SECRETS = {"changeme", "change-me", "changethis", "secret", "password", "xxx"}


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
    quantize: Literal["none", "int8"] | None = None  # None: the CPU default chosen by scoring

    # Ingestion
    allow_private_networks: bool = False
    user_agent: str = "finsent/0.1 (+https://github.com/finsent/finsent; financial news monitor)"
    fetch_connect_timeout: float = 10.0
    fetch_read_timeout: float = 30.0
    fetch_total_timeout: float = 60.0  # whole download, however slowly the bytes trickle in
    fetch_max_bytes: int = 10 * 1024 * 1024
    fetch_max_redirects: int = 5
    fetch_concurrency: int = 16
    fetch_per_host: int = 4
    feed_min_interval_seconds: int = 300
    backoff_base_seconds: int = 300
    backoff_max_seconds: int = 24 * 3600

    # Spike detection (pipeline.alerts.rule; defaults documented there)
    detect_window_hours: float = 2.0
    detect_baseline_days: float = 7.0
    detect_alpha: float = 0.001
    detect_lift_alpha: float = 0.025
    detect_min_volume: int = 10
    detect_min_lift: float = 0.15
    detect_prior_strength: float = 50.0
    detect_resolve_alpha: float = 0.01
    detect_resolve_lift: float = 0.10
    detect_min_baseline_volume: int = 100
    detect_for_evaluations: int = 1  # consecutive evaluations before pending -> firing
    detect_top_headlines: int = 5

    # Alert delivery
    delivery_max_attempts: int = 8
    delivery_backoff_base_seconds: int = 60
    delivery_backoff_max_seconds: int = 3600
    delivery_timeout_seconds: float = 10.0
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_from: str = "finsent@localhost"
    alert_email_to: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_secret: SecretStr | None = None
    dashboard_url: str = "http://localhost:8501"
    outbox_dir: Path = Path("outbox")

    @field_validator("alert_email_to", "webhook_urls", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("smtp_password", "webhook_secret")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in _PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder; set a real secret or leave it unset")
        return value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return Settings()
