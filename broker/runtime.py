"""Composition root: builds every service from :class:`Settings` and wires them together.

This is the only module that knows every feature; features know only their own dependencies.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter

from broker.config import Settings
from broker.http.health import ReadinessCheck
from broker.security.jwks import KeySet
from broker.security.keys import ensure_dev_token_key
from broker.security.tokens import TokenVerifier

log = structlog.get_logger(__name__)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.readiness: dict[str, ReadinessCheck] = {}

    def routers(self) -> list[APIRouter]:
        return []

    def build_verifier(self) -> TokenVerifier:
        s = self.settings
        if s.jwks_url:
            keys = KeySet(url=s.jwks_url, refresh_s=s.jwks_refresh_s)
        else:
            jwks_file = s.jwks_file or ensure_dev_token_key(s.keys_dir).jwks_path
            keys = KeySet(file=jwks_file, refresh_s=s.jwks_refresh_s)
        return TokenVerifier(
            keys,
            issuer=s.jwt_issuer,
            audience=s.jwt_audience,
            leeway_s=s.jwt_leeway_s,
            hs256_secret=s.hs256_secret,
        )

    def start(self, state: Any) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        state.settings = self.settings
        state.token_verifier = self.build_verifier()
        state.readiness_checks = self.readiness
        log.info("broker.started", data_dir=str(self.settings.data_dir))

    def stop(self) -> None:
        log.info("broker.stopped")
