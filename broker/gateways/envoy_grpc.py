"""Envoy ext_authz over gRPC: ``envoy.service.auth.v3.Authorization/Check``.

Where the fields come from (first hit wins):

* tenant: ``context_extensions["tenant"]``, then the ``x-tollgate-tenant`` request header;
* serving region: ``context_extensions["serving_region"]`` (per route), then
  ``destination.labels["serving_region"]`` (Envoy bootstrap metadata), then ``x-tollgate-region``;
* model: the ``x-tollgate-model`` header, then ``"model"`` in the JSON body (``with_request_body``).

The gateway's own token is the ``authorization`` key of the gRPC call metadata (Envoy
``grpc_service.initial_metadata``), never the end user's ``Authorization`` inside the request.

Answers: allow → ``OK`` + ``ok_response`` (decision headers upstream); deny → ``PERMISSION_DENIED``
+ ``denied_response`` (403, JSON reasons); broker failure → ``UNAVAILABLE`` + ``error_response``
(503), which Envoy counts as an ext_authz error and handles by its ``failure_mode_allow``.
Every answer carries ``dynamic_metadata.decision_id`` where a decision was made, so Envoy access
logs (``%DYNAMIC_METADATA(envoy.filters.http.ext_authz:decision_id)%``) join the signed log.
"""

from __future__ import annotations

import json
import time
from typing import Any

import grpc
import structlog
from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc
from envoy.type.v3 import http_status_pb2
from google.protobuf import struct_pb2
from google.rpc import code_pb2, status_pb2

from broker.decisions.service import DecisionService
from broker.decisions.views import decision_json
from broker.errors import AuthenticationFailed, TollgateError, TooManyRequests
from broker.gateways.auth import authenticate_gateway
from broker.gateways.extract import HeaderNames, query_from_headers, reason_codes
from broker.http.ratelimit import RateLimiter
from broker.security.principal import Principal
from broker.security.tokens import TokenVerifier

log = structlog.get_logger(__name__)


def _header_options(headers: dict[str, str]) -> list[Any]:
    return [
        base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=k, value=v)) for k, v in headers.items()
    ]


def _struct(values: dict[str, Any]) -> Any:
    s = struct_pb2.Struct()
    s.update(values)
    return s


class TollgateAuthorization(external_auth_pb2_grpc.AuthorizationServicer):  # type: ignore[misc]
    def __init__(self, service: DecisionService, verifier: TokenVerifier, names: HeaderNames | None = None,
                 limiter: RateLimiter | None = None) -> None:
        self._service = service
        self._verifier = verifier
        self._names = names or HeaderNames()
        self._limiter = limiter

    async def Check(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await self._check(request, context)
        except TollgateError as exc:
            return self._refusal(exc)
        except Exception as exc:  # never let a crash look like anything but an error
            log.exception("ext_authz.crashed", error=repr(exc))
            return self._error(503, "INTERNAL_ERROR", "internal error in Tollgate")

    async def _check(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        metadata = {k.lower(): v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        principal = self._authenticate(metadata, context)
        attrs = request.attributes
        http = attrs.request.http
        headers = {k.lower(): v for k, v in http.headers.items()}
        ext = dict(attrs.context_extensions)
        if "tenant" in ext:
            headers[self._names.tenant] = ext["tenant"]
        region = ext.get("serving_region") or attrs.destination.labels.get("serving_region") or None
        body: bytes | str | None = http.raw_body or http.body or None
        query = query_from_headers(headers, self._names, body=body, region=region)
        decision = await self._service.decide_async(query, principal)
        doc = decision_json(decision)
        out = {
            "x-tollgate-decision-id": decision.decision_id,
            "x-tollgate-reasons": reason_codes(doc["reasons"]),
            "x-tollgate-policy-revision": decision.policy_revision,
        }
        meta = _struct(
            {
                "decision_id": decision.decision_id,
                "allow": doc["allow"] is True,
                "reasons": reason_codes(doc["reasons"]),
                "policy_revision": decision.policy_revision,
                "registry_revision": decision.registry_revision,
            }
        )
        if doc["allow"] is True:
            return external_auth_pb2.CheckResponse(
                status=status_pb2.Status(code=code_pb2.OK),
                ok_response=external_auth_pb2.OkHttpResponse(
                    headers=_header_options(out),
                    response_headers_to_add=_header_options({"x-tollgate-decision-id": decision.decision_id}),
                ),
                dynamic_metadata=meta,
            )
        body_out = {"decision_id": decision.decision_id, "allow": False, "reasons": doc["reasons"]}
        return external_auth_pb2.CheckResponse(
            status=status_pb2.Status(code=code_pb2.PERMISSION_DENIED, message="denied by Tollgate policy"),
            denied_response=external_auth_pb2.DeniedHttpResponse(
                status=http_status_pb2.HttpStatus(code=http_status_pb2.Forbidden),
                headers=_header_options({**out, "content-type": "application/json"}),
                body=json.dumps(body_out, ensure_ascii=False),
            ),
            dynamic_metadata=meta,
        )

    def _authenticate(self, metadata: dict[str, str], context: grpc.aio.ServicerContext) -> Principal:
        """The gateway's principal, rationed like HTTP callers (the same buckets): per principal,
        and per peer address for authentication failures."""
        limiter = self._limiter
        if limiter is None:
            return authenticate_gateway(self._verifier, metadata, allow_authorization=True)
        now = time.monotonic()
        address = _peer_address(context.peer())
        wait = limiter.failure_wait(address, now)
        if wait is not None:
            raise TooManyRequests("too many authentication failures from this address; retry later",
                                  details={"retry_after_s": wait})
        try:
            principal = authenticate_gateway(self._verifier, metadata, allow_authorization=True)
        except AuthenticationFailed:
            limiter.charge_failure(address, now)
            raise
        wait = limiter.principal_wait(principal.subject, now)
        if wait is not None:
            raise TooManyRequests("too many requests for this principal; retry later",
                                  details={"retry_after_s": wait})
        return principal

    def _refusal(self, exc: TollgateError) -> Any:
        if exc.status >= 500:
            return self._error(exc.status, exc.code, exc.message)
        body = json.dumps({"error": {"code": exc.code, "message": exc.message}})
        grpc_code = {401: code_pb2.UNAUTHENTICATED, 403: code_pb2.PERMISSION_DENIED,
                     429: code_pb2.RESOURCE_EXHAUSTED}.get(
            exc.status, code_pb2.INVALID_ARGUMENT
        )
        return external_auth_pb2.CheckResponse(
            status=status_pb2.Status(code=grpc_code, message=exc.message),
            denied_response=external_auth_pb2.DeniedHttpResponse(
                status=http_status_pb2.HttpStatus(code=exc.status),
                headers=_header_options({"content-type": "application/json"}),
                body=body,
            ),
        )

    @staticmethod
    def _error(status: int, code: str, message: str) -> Any:
        body = json.dumps({"error": {"code": code, "message": message}})
        return external_auth_pb2.CheckResponse(
            status=status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message),
            error_response=external_auth_pb2.DeniedHttpResponse(
                status=http_status_pb2.HttpStatus(code=status),
                headers=_header_options({"content-type": "application/json"}),
                body=body,
            ),
        )


def _peer_address(peer: str | None) -> str:
    """The address part of a gRPC peer string (``ipv4:1.2.3.4:5678``, ``ipv6:[::1]:5678``)."""
    if not peer:
        return "unknown"
    family, _, rest = peer.partition(":")
    if family in ("ipv4", "ipv6"):
        return rest.rsplit(":", 1)[0].strip("[]")
    return peer


class GrpcServer:
    """An asyncio gRPC server sharing the broker's event loop (and so its hot engine)."""

    def __init__(self, servicer: TollgateAuthorization, address: str) -> None:
        self._servicer = servicer
        self._address = address
        self._server: grpc.aio.Server | None = None
        self.port: int | None = None

    async def start(self) -> int:
        server = grpc.aio.server()
        external_auth_pb2_grpc.add_AuthorizationServicer_to_server(self._servicer, server)
        self.port = server.add_insecure_port(self._address)
        await server.start()
        self._server = server
        log.info("grpc.started", address=self._address, port=self.port)
        return self.port

    async def stop(self, grace_s: float = 2.0) -> None:
        if self._server is not None:
            await self._server.stop(grace_s)
            self._server = None
