"""Tollgate broker: pre-flight decisions, policy lifecycle and the signed audit log."""

__version__ = "0.1.0"
