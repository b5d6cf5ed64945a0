"""The OPA fleet: Tollgate feeds gateway-side OPA agents and audits what they decide.

* :mod:`bundle` / :mod:`signing` build a signed OPA snapshot bundle from the active
  :class:`~broker.engine.interface.PolicyBundle`; :mod:`verify` checks one independently.
* :mod:`server` answers OPA's Bundle Service API (ETag, 304, long polling).
* :mod:`logs` ingests OPA decision-log uploads into the audit log, idempotently.
* :mod:`status` keeps the latest Status API report per agent and says who is stale.

Only :mod:`api` imports FastAPI; everything else is plain Python so it can be tested and reused.
"""

from broker.fleet.config import FleetConfig
from broker.fleet.notify import ActivationNotifier, BundleSource
from broker.fleet.service import FleetService

__all__ = ["ActivationNotifier", "BundleSource", "FleetConfig", "FleetService"]
