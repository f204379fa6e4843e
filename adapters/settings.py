"""Configuration, only from environment variables with the YYHUB_ prefix (or explicit values)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the hub can be told; defaults run it on a SQLite file with no setup."""

    model_config = SettingsConfigDict(env_prefix="YYHUB_", extra="ignore")

    database_url: str = "sqlite:///yyhub-data/hub.db"
    host: str = "127.0.0.1"
    port: int = 8000
    local_timezone: str = "Asia/Shanghai"
    projection_batch_size: int = 2000
    # Off when `yyhub project` runs the projection in its own process (`serve --no-worker`).
    projection_worker: bool = True
    read_model_prefix: str = "rm_"
    # Off only for local development: every caller is then a trusted local regulator.
    auth_required: bool = True
    # Referrals (双向转诊): deadlines per urgency, and the webhook outbox.
    referral_accept_urgent_hours: float = 2
    referral_accept_routine_hours: float = 24
    referral_expire_urgent_hours: float = 12
    referral_expire_routine_hours: float = 72
    referral_receive_return_hours: float = 24
    referral_follow_up_days: float = 14
    referral_pass_seconds: float = 30
    webhook_attempts_per_pass: int = 3
    webhook_max_attempts: int = 10
    webhook_retry_wait_seconds: float = 0.5
    webhook_backoff_seconds: float = 30
    webhook_timeout_seconds: float = 5
    mllp_port: int = 2575
    # Hold HL7 v2 senders to the standard: hl7apy validates every message too (~30 ms each)
    # and what it finds answers AE (mappings/hl7v2/strict.py).
    hl7_strict_validation: bool = False
    mllp_max_message_bytes: int = 4 * 1024 * 1024
    # Limits (docs/operations.md): a silent MLLP connection is closed after this many seconds,
    # at most this many MLLP connections at once, and HTTP bodies (files too) up to this size.
    mllp_idle_timeout_seconds: float = 300
    mllp_max_connections: int = 100
    http_max_body_bytes: int = 16 * 1024 * 1024

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.local_timezone)
