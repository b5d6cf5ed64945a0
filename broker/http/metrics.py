"""``GET /metrics``: the broker in Prometheus' text format (roles ``monitor`` or ``admin``).

What OPA's ``/metrics`` gives an operator, for what Tollgate adds: pre-flight answers by status
and the broker's time per pre-flight, decisions by outcome and by reason code, cache hits,
engine evaluation time and failures, the audit log's progress (records
sequenced, integrated and covered by the last checkpoint, the checkpoint's age), the live policy
and registry revisions, rate-limit refusals, plus the process, platform and GC collectors of
``prometheus_client``. Nothing is labelled by tenant or model: no cardinality explosion, and a
scraper's token learns nothing about who asked what.

Everything is read at scrape time from the features' own counters (``DecisionStats``, the rate
limiter, the audit log's health), so the request path pays only for its plain increments. A
source that fails is skipped for that scrape and counted in ``tollgate_metrics_errors_total``:
a scrape never fails because one part of the broker is down.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

import broker
from broker.decisions.stats import DecisionStats, Histogram, PreflightStats
from broker.security.deps import require_roles
from broker.security.principal import Principal

router = APIRouter(tags=["health"])
log = structlog.get_logger(__name__)
_registry_lock = threading.Lock()
AUDIT_STATES = ("ok", "degraded", "unavailable")


class BrokerCollector(Collector):
    """Reads the app's features (through ``app.state``) at every scrape."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.errors: dict[str, int] = {}

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("tollgate_build_info", "Tollgate build", labels=["version"])
        info.add_metric([broker.__version__], 1)
        yield info
        sources: list[tuple[str, Callable[[], list[Metric]]]] = [
            ("preflight", self._preflight), ("decisions", self._decisions), ("policy", self._policy),
            ("audit", self._audit), ("rate_limits", self._rate_limits),
        ]
        for name, source in sources:
            try:
                yield from source()
            except Exception as exc:  # one broken part must not take the others' metrics down
                self.errors[name] = self.errors.get(name, 0) + 1
                log.warning("metrics.source_failed", source=name, error=repr(exc))
        errors = CounterMetricFamily("tollgate_metrics_errors", "Scrapes in which a source failed",
                                     labels=["source"])
        for name, count in sorted(self.errors.items()):
            errors.add_metric([name], count)
        yield errors

    def _preflight(self) -> list[Metric]:
        stats: PreflightStats | None = getattr(self.state, "preflight_stats", None)
        if stats is None:
            return []
        answers = CounterMetricFamily("tollgate_preflight_responses", "POST /v1/preflight answers, by status",
                                      labels=["status"])
        for status, count in sorted(dict(stats.statuses).items()):
            answers.add_metric([str(status)], count)
        seconds = _histogram("tollgate_preflight_duration_seconds",
                             "Broker time per POST /v1/preflight, from the handler's start to the answer's last byte",
                             stats.durations)
        return [answers, seconds]

    def _decisions(self) -> list[Metric]:
        manager = getattr(self.state, "snapshot_manager", None)
        if manager is None:
            return []
        stats: DecisionStats = manager.stats
        decisions = CounterMetricFamily("tollgate_decisions", "Pre-flight decisions answered",
                                        labels=["allow", "source"])
        reasons = CounterMetricFamily("tollgate_decision_reasons",
                                      "Pre-flight decisions that gave a reason with this code", labels=["code"])
        by_outcome: dict[tuple[str, str], int] = {}
        by_code: dict[str, int] = {}
        for (allow, cached, codes), count in list(stats.decisions.items()):
            key = ("true" if allow else "false", "cache" if cached else "engine")
            by_outcome[key] = by_outcome.get(key, 0) + count
            for code in set(codes):  # a wide scope gives one reason per member region
                by_code[code] = by_code.get(code, 0) + count
        for labels, count in sorted(by_outcome.items()):
            decisions.add_metric(list(labels), count)
        for code, count in sorted(by_code.items()):
            reasons.add_metric([code], count)
        seconds = _histogram("tollgate_engine_evaluation_seconds",
                             "Policy engine evaluations (cache misses, routing tables, probes)", stats.evaluations)
        failures = CounterMetricFamily("tollgate_engine_errors",
                                       "Engine evaluations that failed (each answered 503, never allow)",
                                       labels=["code"])
        for code, count in sorted(dict(stats.evaluation_errors).items()):
            failures.add_metric([code], count)
        return [decisions, reasons, seconds, failures]

    def _policy(self) -> list[Metric]:
        manager = getattr(self.state, "snapshot_manager", None)
        loaded = GaugeMetricFamily("tollgate_policy_loaded", "1 while a policy snapshot is serving")
        if manager is None or not manager.ready:
            loaded.add_metric([], 0)
            return [loaded]
        snap = manager.current
        loaded.add_metric([], 1)
        info = GaugeMetricFamily("tollgate_policy_info", "The serving policy and registry revisions",
                                 labels=["policy_revision", "registry_revision", "engine", "engine_version"])
        info.add_metric([snap.policy_revision, str(snap.registry_revision), snap.engine_info.name,
                         snap.engine_info.version], 1)
        entries = GaugeMetricFamily("tollgate_decision_cache_entries", "Decisions cached for the serving snapshot")
        entries.add_metric([], len(snap.cache))
        return [loaded, info, entries]

    def _audit(self) -> list[Metric]:
        audit = getattr(self.state, "audit_log", None)
        if audit is None:
            return []
        health = audit.health()
        status = GaugeMetricFamily("tollgate_audit_status", "The audit log's state (1 for the current one)",
                                   labels=["status"])
        for state in AUDIT_STATES:
            status.add_metric([state], 1 if health.get("status") == state else 0)
        out: list[Metric] = [status]
        for key, name, text in (
            ("sequenced", "tollgate_audit_sequenced_records", "Records durably sequenced"),
            ("integrated", "tollgate_audit_integrated_records", "Records integrated into the Merkle tree"),
            ("checkpoint_size", "tollgate_audit_checkpoint_size", "Tree size of the last published checkpoint"),
            ("checkpoint_age_s", "tollgate_audit_checkpoint_age_seconds", "Seconds since a checkpoint was signed"),
        ):
            if isinstance(health.get(key), int | float):
                gauge = GaugeMetricFamily(name, text)
                gauge.add_metric([], health[key])
                out.append(gauge)
        restarts = getattr(audit, "restarts", None)
        if isinstance(restarts, int):
            counter = CounterMetricFamily("tollgate_audit_worker_restarts", "Audit worker processes restarted")
            counter.add_metric([], restarts)
            out.append(counter)
        return out

    def _rate_limits(self) -> list[Metric]:
        limiter = getattr(self.state, "rate_limiter", None)
        if limiter is None:
            return []
        limited = CounterMetricFamily("tollgate_rate_limited", "Requests refused 429, by bucket", labels=["bucket"])
        for bucket, count in sorted(dict(limiter.limited).items()):
            limited.add_metric([bucket], count)
        failures = CounterMetricFamily("tollgate_authentication_failures",
                                       "Requests answered 401, charged to their client address")
        failures.add_metric([], limiter.auth_failures)
        return [limited, failures]


def _histogram(name: str, text: str, histogram: Histogram) -> HistogramMetricFamily:
    """A Prometheus histogram (cumulative buckets, ``+Inf`` last) from per-bucket counts."""
    buckets, total = [], 0
    for bound, count in zip((*map(str, histogram.bounds), "+Inf"), list(histogram.counts), strict=True):
        total += count
        buckets.append((bound, float(total)))
    return HistogramMetricFamily(name, text, buckets=buckets, sum_value=histogram.sum)


def registry_for(state: Any) -> CollectorRegistry:
    """The app's own registry (created on first scrape): apps in one process never share one."""
    with _registry_lock:
        registry = getattr(state, "metrics_registry", None)
        if registry is None:
            registry = CollectorRegistry(auto_describe=False)
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
            registry.register(BrokerCollector(state))
            state.metrics_registry = registry
        return registry


@router.get("/metrics", summary="Prometheus metrics (roles: monitor, admin)", response_class=Response)
def metrics(request: Request, _: Annotated[Principal, Depends(require_roles("monitor", "admin"))]) -> Response:
    # The format the scraper asks for: OpenMetrics for Prometheus, else the classic text 0.0.4.
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(registry_for(request.app.state)), headers={"content-type": content_type})
