"""deploy/: every YAML parses and agrees with the broker's fleet defaults and routes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from broker.fleet import FleetConfig

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def load_all(name: str) -> list[Any]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d is not None]


def check_opa_config(cfg: dict[str, Any]) -> None:
    defaults = FleetConfig()
    service = cfg["services"]["tollgate"]
    assert "url" in service and "token_path" in service["credentials"]["bearer"]
    bundle = cfg["bundles"][defaults.bundle_name]
    assert bundle["service"] == "tollgate"
    assert bundle["resource"] == f"bundles/{defaults.bundle_name}"
    assert bundle["signing"]["keyid"] == defaults.signing_key_id  # enforcement needs it (opa#8531)
    assert bundle["polling"]["long_polling_timeout_seconds"] <= defaults.long_poll_max_s
    assert cfg["keys"][defaults.signing_key_id]["algorithm"] == defaults.signing_algorithm
    assert cfg["decision_logs"]["service"] == "tollgate" and cfg["decision_logs"]["resource"] == "/logs"
    assert cfg["status"]["service"] == "tollgate"


def test_opa_agent_config() -> None:
    (cfg,) = load_all("opa/config.yaml")
    check_opa_config(cfg)


def test_routes_match_what_opa_calls() -> None:
    from broker.fleet.api import router

    paths = {getattr(r, "path", "") for r in router.routes}
    assert {"/bundles/{name:path}", "/logs", "/status", "/v1/fleet/agents"} <= paths


def test_compose() -> None:
    (compose,) = load_all("docker-compose.yaml")
    services = compose["services"]
    assert {"broker", "postgres", "opa", "envoy"} <= set(services)
    assert services["broker"]["environment"]["TOLLGATE_DATABASE_URL"].startswith("postgresql")
    assert services["broker"]["environment"]["TOLLGATE_ENGINE"] == "opa"
    opa_cmd = " ".join(services["opa"]["command"])
    assert "--config-file=/config/config.yaml" in opa_cmd and "keys.tollgate-bundle.key" in opa_cmd
    mounted = {v.split(":")[0] for v in services["opa"]["volumes"]}
    assert "./opa/config.yaml" in mounted
    assert (DEPLOY / "envoy/envoy.yaml").exists()


def test_envoy_fails_closed_to_the_broker() -> None:
    (envoy,) = load_all("envoy/envoy.yaml")
    hcm = envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    authz = next(f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.ext_authz")["typed_config"]
    assert authz["failure_mode_allow"] is False
    assert authz["http_service"]["path_prefix"] == "/ext-authz"


def test_kubernetes_manifests() -> None:
    broker = {(d["kind"], d["metadata"]["name"]): d for d in load_all("k8s/broker.yaml")}
    dep = broker[("Deployment", "tollgate-broker")]
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "tollgate-db"
    assert ("Service", "tollgate-broker") in broker
    # The ServiceMonitor scrapes the Service's named port with a monitor-role bearer token.
    (monitor,) = load_all("k8s/servicemonitor.yaml")
    (endpoint,) = monitor["spec"]["endpoints"]
    service = broker[("Service", "tollgate-broker")]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]} and endpoint["path"] == "/metrics"
    assert endpoint["authorization"] == {"type": "Bearer",
                                         "credentials": {"name": "tollgate-monitor-token", "key": "token"}}
    conf = broker[("ConfigMap", "tollgate-broker")]["data"]
    assert conf["TOLLGATE_FLEET_SIGNING_KEY_ID"] == FleetConfig().signing_key_id

    gw = {(d["kind"], d["metadata"]["name"]): d for d in load_all("k8s/gateway-opa.yaml")}
    check_opa_config(yaml.safe_load(gw[("ConfigMap", "tollgate-opa")]["data"]["config.yaml"]))
    pod = gw[("Deployment", "tollgate-gateway")]["spec"]["template"]["spec"]
    opa = next(c for c in pod["containers"] if c["name"] == "opa")
    assert opa["readinessProbe"]["httpGet"]["path"] == "/health?bundles"
    secrets = [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v]
    assert secrets == ["tollgate-opa-token"]


def test_docs_exist() -> None:
    readme = (DEPLOY / "README.md").read_text()
    assert "Not verified" in readme and "no OPA binary" in readme
    assert "rotat" in (DEPLOY / "opa/keys/README").read_text().lower()
