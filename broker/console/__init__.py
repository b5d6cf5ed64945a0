"""The web console for compliance officers and auditors: static assets served by the broker."""

from broker.console.api import router

__all__ = ["router"]
