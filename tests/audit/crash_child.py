"""Child process for the crash test: append from several threads and print each ack.

Usage: crash_child.py LOG_DIR KEY_PEM ROUND. Each acknowledged append prints
``<index> <decision_id>`` and flushes, so the parent knows exactly what was acknowledged.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from broker.audit.keys import load_log_key
from broker.audit.log import SEQUENCE_FILE, AuditLog
from broker.audit.storage.fs import FsSequenceStore
from tests.audit.conftest import ORIGIN, make_decision


def main() -> None:
    directory, key_file, round_no = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    # Small sequence segments, so kills also land on segment rotation and compaction.
    seq = FsSequenceStore(directory / SEQUENCE_FILE, segment_bytes=32 * 1024)
    log = AuditLog(directory, load_log_key(key_file), ORIGIN, checkpoint_interval_s=0.02,
                   checkpoint_every=200, sequence=seq)
    log.start()
    lock = threading.Lock()
    print("ready", flush=True)

    def worker(w: int) -> None:
        for i in range(10**9):
            rec = make_decision(i)
            rec["decision_id"] = f"r{round_no}-w{w}-{i}"
            index = log.append(rec)
            with lock:
                sys.stdout.write(f"{index} {rec['decision_id']}\n")
                sys.stdout.flush()

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
