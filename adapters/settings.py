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
    projection_batch_size: int = 500
    read_model_prefix: str = "rm_"
    mllp_port: int = 2575
    mllp_max_message_bytes: int = 4 * 1024 * 1024

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.local_timezone)
