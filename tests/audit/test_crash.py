"""Crash test: SIGKILL an appending process at random points; no acknowledged record is lost."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from broker.audit.export import export_log
from broker.audit.keys import generate_log_key, load_log_key
from broker.audit.log import AuditLog
from broker.audit.verify import verify_export

from .conftest import ORIGIN

ROOT = Path(__file__).resolve().parents[2]


def _run_and_kill(log_dir: Path, key_file: Path, round_no: int, delay: float,
                  ) -> dict[int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.audit.crash_child", str(log_dir),
                             str(key_file), str(round_no)], stdout=subprocess.PIPE,
                            cwd=ROOT, env=env)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready"
    acked: dict[int, str] = {}
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reader.join()
    for line in lines:
        parts = line.decode().split()
        if len(parts) == 2:  # a line cut by the kill was never a complete ack
            acked[int(parts[0])] = parts[1]
    return acked


def test_sigkill_never_loses_acknowledged_records(tmp_path: Path) -> None:
    key_file = generate_log_key(tmp_path / "keys")
    log_dir = tmp_path / "log"
    rng = random.Random(1234)
    all_acked: dict[int, str] = {}
    for round_no in range(6):
        acked = _run_and_kill(log_dir, key_file, round_no, rng.uniform(0.3, 1.5))
        assert acked, "child acknowledged nothing"
        assert not set(acked) & set(all_acked), "an index was reused after a crash"
        print(f"round {round_no}: {len(acked)} acknowledged")
        all_acked.update(acked)
    log = AuditLog(log_dir, load_log_key(key_file), ORIGIN, checkpoint_interval_s=0.02)
    log.start()
    try:
        last = max(all_acked)
        log.wait_published(last, timeout=30)
        entries = log.entries(0, log.checkpoint().size)
        for index, decision_id in all_acked.items():
            assert json.loads(entries[index])["decision_id"] == decision_id
        export_log(log, tmp_path / "export")
        result = verify_export(tmp_path / "export", keys=log.vkeys)
        assert result.ok, result.verdict()
    finally:
        log.close()
