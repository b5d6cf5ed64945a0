"""Algorithms accepted for keys published in a JWKS."""

ACCEPTED_JWK_ALGORITHMS = frozenset({"EdDSA", "ES256", "RS256"})
