"""Background impact-analysis jobs with progress, for ``POST .../impact`` then polling.

Jobs live in memory (a restart forgets running jobs); their finished reports are stored by the
service, so only progress is lost. One job runs at a time: analysis already uses every core.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from broker.errors import NotFound, TollgateError

ProgressFn = Callable[[int, int, str], None]


@dataclass
class Job:
    id: str
    version_id: str
    created_by: str
    status: str = "queued"  # queued | running | done | failed
    phase: str = ""
    done: int = 0
    total: int = 0
    report_id: str | None = None
    summary: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        pct = 100.0 if self.status == "done" else (100.0 * self.done / self.total if self.total else 0.0)
        return {
            "id": self.id,
            "version_id": self.version_id,
            "created_by": self.created_by,
            "status": self.status,
            "progress": {"done": self.done, "total": self.total, "percent": round(pct, 1), "phase": self.phase},
            "report_id": self.report_id,
            "summary": self.summary,
            "error": self.error,
        }


class JobRunner:
    def __init__(self, *, keep: int = 100) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy-impact")
        self._keep = keep

    def submit(self, version_id: str, created_by: str, work: Callable[[ProgressFn], dict[str, Any]]) -> Job:
        job = Job(uuid.uuid4().hex, version_id, created_by)
        with self._lock:
            self._jobs[job.id] = job
            for old in list(self._jobs)[: max(0, len(self._jobs) - self._keep)]:
                if self._jobs[old].status in ("done", "failed"):
                    del self._jobs[old]

        def progress(done: int, total: int, phase: str) -> None:
            job.done, job.total, job.phase = done, total, phase

        def run() -> None:
            job.status = "running"
            try:
                report = work(progress)
                job.report_id = report["id"]
                job.summary = report["summary"]
                job.status = "done"
            except TollgateError as exc:
                job.error, job.status = exc.to_body()["error"], "failed"
            except Exception as exc:
                job.error, job.status = {"code": "INTERNAL_ERROR", "message": f"{type(exc).__name__}: {exc}"}, "failed"
            job.finished_at = time.time()

        self._pool.submit(run)
        return job

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"no impact job {job_id}", code="IMPACT_JOB_NOT_FOUND")
        return job

    def wait(self, job_id: str, timeout: float = 60.0) -> Job:
        deadline = time.monotonic() + timeout
        job = self.get(job_id)
        while job.status in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.02)
        return job

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
