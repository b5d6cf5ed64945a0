"""Gateway dialects: Envoy ext_authz (HTTP and gRPC), the OPA Data API shape, LiteLLM, nginx.

Each adapter only translates a gateway's wire format into a :class:`PreflightQuery` and the
:class:`Decision` back; the decision itself is always made by the decisions service, so every
dialect gets the same answer, the same audit record and the same fail-closed behaviour.
"""
