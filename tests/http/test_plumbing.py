"""Error bodies, request ids, body limits, health and readiness, configuration sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from broker.config import Settings
from broker.errors import Conflict
from broker.http import health
from broker.http.errors import install_error_handlers
from broker.http.middleware import RequestContextMiddleware


class Item(BaseModel):
    name: str
    count: int


def make_app(checks: dict[str, Any] | None = None) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=1000)
    app.include_router(health.router)
    app.state.readiness_checks = checks or {}

    @app.post("/items")
    def create(item: Item) -> dict[str, Any]:
        return item.model_dump()

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.get("/conflict")
    def conflict() -> None:
        raise Conflict("stale revision", code="STALE_REVISION", details={"head": 3})

    @app.get("/crash")
    def crash() -> None:
        raise RuntimeError("boom")

    return app


def test_validation_error_names_the_field() -> None:
    r = TestClient(make_app()).post("/items", json={"name": "x", "count": "many"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "VALIDATION_FAILED"
    assert "body.count" in err["message"]
    assert err["details"]["errors"][0]["field"] == "body.count"


def test_domain_error_keeps_code_and_details() -> None:
    r = TestClient(make_app()).get("/conflict")
    assert r.status_code == 409
    assert r.json() == {"error": {"code": "STALE_REVISION", "message": "stale revision", "details": {"head": 3}}}


def test_unexpected_error_is_500_with_code() -> None:
    r = TestClient(make_app(), raise_server_exceptions=False).get("/crash")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "INTERNAL_ERROR"


def test_unknown_route_has_code() -> None:
    r = TestClient(make_app()).get("/nope")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "NOT_FOUND"


def test_request_id_echoed_or_generated() -> None:
    c = TestClient(make_app())
    assert c.get("/healthz", headers={"x-request-id": "abc-123"}).headers["x-request-id"] == "abc-123"
    generated = c.get("/healthz", headers={"x-request-id": "bad id with spaces"}).headers["x-request-id"]
    assert generated != "bad id with spaces" and len(generated) == 32


def test_body_limit_by_content_length_and_by_stream() -> None:
    c = TestClient(make_app())
    assert c.post("/raw", content=b"x" * 999).json() == {"size": 999}
    r = c.post("/raw", content=b"x" * 5000)
    assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    # Answered by the raw ASGI layer, in FastAPI's own JSON format (compact, UTF-8).
    assert r.content == json.dumps(r.json(), separators=(",", ":")).encode()

    def chunks() -> Any:  # no content-length: the cap is enforced while streaming
        for _ in range(10):
            yield b"y" * 500

    r = c.post("/raw", content=chunks())
    assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    # A route with a JSON body model: FastAPI reads the body itself and reports any failure as
    # 400; the cap's own error still comes through.
    r = c.post("/items", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_readyz_reports_each_check() -> None:
    def bad() -> tuple[bool, str]:
        raise OSError("disk gone")

    ok = TestClient(make_app({"store": lambda: (True, "sqlite ok")}))
    assert ok.get("/healthz").json() == {"status": "ok"}
    r = ok.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"]["store"] == {"ok": True, "detail": "sqlite ok"}
    r = TestClient(make_app({"store": lambda: (True, ""), "audit": bad})).get("/readyz")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "NOT_READY"
    assert "disk gone" in r.json()["checks"]["audit"]["detail"]
    assert TestClient(make_app({})).get("/readyz").status_code == 503  # nothing registered: not ready


def test_settings_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "tollgate.toml"
    cfg.write_text('engine = "regopy"\nport = 9000\njwt_audience = "from-file"\n')
    monkeypatch.setenv("TOLLGATE_CONFIG", str(cfg))
    monkeypatch.setenv("TOLLGATE_PORT", "9100")
    s = Settings()
    assert (s.engine, s.port, s.jwt_audience) == ("regopy", 9100, "from-file")  # env beats file
    assert s.resolved_database_url.startswith("sqlite:///")


def test_settings_errors_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLGATE_ENGINE", "wasm")
    with pytest.raises(ValidationError, match="engine"):
        Settings()
    monkeypatch.delenv("TOLLGATE_ENGINE")
    monkeypatch.setenv("TOLLGATE_HS256_SECRET", "short")
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings()
    monkeypatch.delenv("TOLLGATE_HS256_SECRET")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([1, 2]))
    monkeypatch.setenv("TOLLGATE_CONFIG", str(bad))
    with pytest.raises(ValueError, match="top level"):
        Settings()


def test_load_settings_names_each_bad_variable_and_never_echoes_a_value(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from broker.config import ConfigError, load_settings

    monkeypatch.setenv("TOLLGATE_LOG_LEVEL", "WARNING")  # any case
    assert load_settings().log_level == "warning"
    monkeypatch.setenv("TOLLGATE_LOG_LEVEL", "verbose")
    monkeypatch.setenv("TOLLGATE_HS256_SECRET", "too-short-secret")
    with pytest.raises(ConfigError) as exc:
        load_settings()
    message = str(exc.value)
    assert "TOLLGATE_LOG_LEVEL: Input should be 'critical'" in message
    assert "TOLLGATE_HS256_SECRET: Value error, TOLLGATE_HS256_SECRET must be at least 32 bytes" in message
    assert "too-short-secret" not in message and "verbose" not in message
    for name in ("TOLLGATE_LOG_LEVEL", "TOLLGATE_HS256_SECRET"):
        monkeypatch.delenv(name)
    cfg = tmp_path / "tollgate.toml"
    cfg.write_text('port = "x"\n')
    monkeypatch.setenv("TOLLGATE_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match=rf"TOLLGATE_PORT \(or port in {cfg}\): Input should be a valid integer"):
        load_settings()
    cfg.write_text("port = 1\n[broken\n")
    with pytest.raises(ConfigError, match="at line 2"):
        load_settings()
