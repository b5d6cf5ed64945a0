"""Build a log of N records (default 1,000,000), export it, verify the export offline.

Prints the seconds for each phase. Usage: python benchmarks/audit_verify.py [records]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.audit_append import record
from broker.audit.export import export_log
from broker.audit.log import AuditLog
from broker.audit.verify import verify_export


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        log = AuditLog(Path(tmp) / "log", Ed25519PrivateKey.generate(), "bench.example/audit",
                       checkpoint_interval_s=1.0, checkpoint_every=100_000)
        log.start()
        t0 = time.perf_counter()
        batch = 10_000
        for lo in range(0, total, batch):
            log.append_many([record(i) for i in range(lo, min(total, lo + batch))])
        log.wait_published(total - 1, timeout=600)
        t_build = time.perf_counter() - t0
        trusted = log.checkpoint_note()
        t0 = time.perf_counter()
        export_log(log, Path(tmp) / "export")
        t_export = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = verify_export(Path(tmp) / "export", keys=log.vkeys,
                               trusted_checkpoints=[("latest", trusted)])
        t_verify = time.perf_counter() - t0
        log.close()
    print(f"records={total}")
    print(f"build  {t_build:7.1f} s  ({total / t_build:,.0f} records/s via append_many)")
    print(f"export {t_export:7.1f} s")
    print(f"verify {t_verify:7.1f} s  -> {'VERIFIED' if result.ok else result.verdict()}")


if __name__ == "__main__":
    main()
