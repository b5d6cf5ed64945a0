"""Everything the fleet endpoints need, created once at start-up (``app.state.fleet``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from broker.fleet.config import FleetConfig
from broker.fleet.logs import DecisionLogReceiver
from broker.fleet.server import BundleServer
from broker.fleet.signing import BundleSigner, load_or_create_signer
from broker.fleet.store import FleetStore

STORE_FILE = "fleet.db"


@dataclass
class FleetService:
    config: FleetConfig
    signer: BundleSigner
    store: FleetStore
    bundles: BundleServer
    logs: DecisionLogReceiver
    clock: Callable[[], float] = time.time

    @classmethod
    def open(
        cls, data_dir: Path, config: FleetConfig | None = None, *,
        signer: BundleSigner | None = None, clock: Callable[[], float] = time.time,
    ) -> FleetService:
        """Load (or, with the default path, create) the signing key and open ``fleet.db``."""
        config = config or FleetConfig()
        if signer is None:
            signer = load_or_create_signer(
                config.key_file(data_dir),
                key_id=config.signing_key_id,
                algorithm=config.signing_algorithm,
                scope=config.signing_scope,
                create=config.signing_key_file is None,
            )
        store = FleetStore(data_dir / STORE_FILE)
        return cls(
            config=config,
            signer=signer,
            store=store,
            bundles=BundleServer(signer, config),
            logs=DecisionLogReceiver(store, config.bundle_name, clock),
            clock=clock,
        )
