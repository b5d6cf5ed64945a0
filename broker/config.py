"""Broker configuration: ``TOLLGATE_*`` environment variables and an optional settings file.

Precedence (highest first): explicit keyword arguments, environment variables, the file named by
``TOLLGATE_CONFIG`` (TOML or JSON), then the defaults below — which are the embedded quick-start
set-up: SQLite under ``./data``, the shipped catalog, the in-process Rego engine, development keys
generated on first start.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class WitnessSetting(BaseModel):
    """A witness asked to cosign every checkpoint (c2sp.org/tlog-witness ``add-checkpoint``)."""

    url: str = Field(description="the witness's base URL; the log POSTs to <url>/add-checkpoint")
    vkey: str = Field(description="the witness's cosignature/v1 verifier key (name+hexid+base64)")


class _FileSource(PydanticBaseSettingsSource):
    """Reads the file named by ``TOLLGATE_CONFIG`` (``.toml`` or ``.json``), if any."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data().get(field_name), field_name, False

    def _data(self) -> dict[str, Any]:
        name = os.environ.get("TOLLGATE_CONFIG")
        if not name:
            return {}
        path = Path(name)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"TOLLGATE_CONFIG={name}: cannot read: {exc.strerror}") from exc
        try:
            data = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"TOLLGATE_CONFIG={name}: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"TOLLGATE_CONFIG={name}: top level must be a table/object")
        return data

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data().items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOLLGATE_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="keys, SQLite file and audit log live here")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/tollgate.db"
    )
    engine: Literal["regorus", "regopy", "opa"] = "regorus"
    opa_url: str = "http://127.0.0.1:8181"
    include_demo: bool = Field(default=False, description="load the labelled demo tenants/deployments")

    # Authentication
    jwt_issuer: str = "tollgate-dev"
    jwt_audience: str = "tollgate"
    jwt_leeway_s: int = Field(default=30, ge=0, le=300)
    jwks_file: Path | None = Field(default=None, description="verification keys; default the dev JWKS")
    jwks_url: str | None = None
    jwks_refresh_s: int = Field(default=60, ge=1)
    hs256_secret: str | None = Field(default=None, description="enables HS256; min 32 bytes")

    # Audit log
    audit_checkpoint_interval_s: float = 1.0
    # With the 1 s interval this only matters above 10,000 records/s: publishing every 1,000
    # records wrote partial tiles ten times a second at 10k/s, and their fsyncs slowed the
    # sequencer's writes: audit-on pre-flight throughput +10 % at 10,000 (measured, one run).
    audit_checkpoint_every: int = 10_000
    audit_idle_resign_s: float = 60.0
    log_origin: str = "tollgate.dev/log"
    audit_witnesses: list[WitnessSetting] = Field(
        default_factory=list,
        description="witnesses that cosign each checkpoint, e.g. "
        '[{"url": "https://witness.example", "vkey": "witness.example+1234abcd+BAh..."}]; '
        "a witness that fails leaves the log running, its health degraded",
    )
    audit_backend: Literal["auto", "fs", "postgres"] = Field(
        default="auto",
        description="where the audit log lives: fs (local files), postgres (shared by replicas); "
        "auto = postgres when database_url is PostgreSQL",
    )
    audit_worker: Literal["process", "thread"] = Field(
        default="process",
        description="local-file audit log: sequence and integrate in a worker process (process), "
        "or in threads of the broker (thread; one process, but the audit threads share the GIL "
        "with the request loop)",
    )
    replica_poll_interval_s: float = Field(
        default=0.2, gt=0, description="replicas: how often to look for other replicas' changes"
    )

    # Serving
    host: str = "127.0.0.1"
    port: int = 8750
    grpc_port: int | None = Field(default=None, description="Envoy ext_authz gRPC port; off when unset")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    max_body_bytes: int = 1_048_576
    decision_cache_size: int = 100_000

    # Rate limits on token-bearing endpoints (token buckets; broker/http/ratelimit.py)
    rate_limit_enabled: bool = True
    rate_limit_principal_rps: float = Field(default=5000, gt=0, description="per token subject")
    rate_limit_principal_burst: float = Field(default=10000, gt=0)
    rate_limit_auth_failures_rps: float = Field(default=2, gt=0, description="per client IP, failed auth")
    rate_limit_auth_failures_burst: float = Field(default=30, gt=0)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_any_case(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("hs256_secret")
    @classmethod
    def _secret_long_enough(cls, value: str | None) -> str | None:
        # RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
        if value is not None and len(value.encode()) < 32:
            raise ValueError("TOLLGATE_HS256_SECRET must be at least 32 bytes")
        return value

    @field_validator("audit_witnesses")
    @classmethod
    def _witnesses_well_formed(cls, value: list[WitnessSetting]) -> list[WitnessSetting]:
        # Checked at start-up, so a typo in a key or URL stops the broker with its position
        # instead of surfacing later as a witness that never cosigns.
        from broker.audit.witness import CosignatureVerifier
        from broker.errors import TollgateError

        names: set[str] = set()
        for i, w in enumerate(value):
            if not w.url.startswith(("https://", "http://")):
                raise ValueError(f"audit_witnesses[{i}].url must be an http(s) URL, got {w.url!r}")
            try:
                name = CosignatureVerifier.from_vkey(w.vkey).name
            except TollgateError as exc:
                raise ValueError(f"audit_witnesses[{i}].vkey: {exc.message}") from exc
            if name in names:
                raise ValueError(f"audit_witnesses[{i}]: witness {name} is listed twice")
            names.add(name)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _FileSource(settings_cls))

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'tollgate.db').resolve()}"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def audit_dir(self) -> Path:
        return self.data_dir / "audit"


class ConfigError(ValueError):
    """Settings the broker cannot start with; the message names every bad setting."""


def load_settings(**overrides: Any) -> Settings:
    """:class:`Settings`, or a :class:`ConfigError` naming each bad value by its variable.

    The values themselves are not repeated: one of them may be a secret.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        config = os.environ.get("TOLLGATE_CONFIG")
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            where = f"TOLLGATE_{loc[0].upper()}" if loc else "settings"
            if config and loc:
                where += f" (or {'.'.join(loc)} in {config})"
            elif len(loc) > 1:
                where += f" ({'.'.join(loc)})"
            problems.append(f"{where}: {err['msg']}")
        raise ConfigError("invalid settings:\n  " + "\n  ".join(problems)) from None
    except ValueError as exc:  # the settings file: unreadable, not TOML/JSON (with its line)
        raise ConfigError(str(exc)) from None
