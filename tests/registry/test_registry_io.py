"""Loading, dumping and rejecting registry YAML: every bad input is named by file, path and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from registry import io
from registry.errors import RegistryError
from registry.io import dump_registry, load_dir, load_shipped, load_texts

JURISDICTIONS = """\
jurisdictions:
- code: US
  name: United States
- code: DE
  name: Germany
"""
REGIONS = """\
regions:
- id: aws:us-east-1
  cloud: aws
  code: us-east-1
  partition: aws
  country: US
  source: {ref: test, confidence: confirmed}
"""
PROVIDERS = """\
providers:
- id: acme
  name: Acme
  hq_country: US
  ultimate_parent_country: US
  hq_source: {ref: test, confidence: confirmed}
"""
MODELS = """\
models:
- id: acme.one
  name: One
  provider: acme
  weights: closed
  source: {ref: test, confidence: confirmed}
  deployments:
  - target: aws:us-east-1
    source: {ref: test, confidence: confirmed}
"""


def base(**override: str) -> dict[str, str]:
    files = {"jurisdictions.yaml": JURISDICTIONS, "regions.yaml": REGIONS, "providers.yaml": PROVIDERS,
             "models.yaml": MODELS}
    files.update(override)
    return files


def rejected(files: dict[str, str]) -> str:
    with pytest.raises(RegistryError) as info:
        load_texts(sorted(files.items()))
    assert info.value.problems
    return str(info.value)


def line_of(text: str, needle: str, nth: int = 1) -> int:
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[nth - 1]


def test_minimal_registry_loads() -> None:
    reg = load_texts(sorted(base().items()))
    assert reg.models["acme.one"].deployments[0].target == "aws:us-east-1"


def test_export_import_export_is_byte_identical(tmp_path: Path) -> None:
    reg = load_shipped(include_demo=True)
    first, second = tmp_path / "a", tmp_path / "b"
    written = dump_registry(reg, first)
    again = load_dir(first)
    assert again == reg
    dump_registry(again, second)
    assert len(written) == 6
    for f in written:
        assert f.read_bytes() == (second / f.name).read_bytes(), f.name


def test_unknown_country_code() -> None:
    text = REGIONS.replace("country: US", "country: ZZ")
    msg = rejected(base(**{"regions.yaml": text}))
    assert f"regions.yaml:{line_of(text, 'country: ZZ')}: regions[0].country: unknown jurisdiction 'ZZ'" in msg


def test_invalid_country_code_format() -> None:
    text = REGIONS.replace("country: US", "country: usa")
    msg = rejected(base(**{"regions.yaml": text}))
    assert f"regions.yaml:{line_of(text, 'country: usa')}: regions[0].country:" in msg


def test_dangling_deployment_target() -> None:
    text = MODELS.replace("target: aws:us-east-1", "target: aws:mars-north-1")
    msg = rejected(base(**{"models.yaml": text}))
    line = line_of(text, "target: aws:mars-north-1")
    assert f"models.yaml:{line}: models[0].deployments[0].target: unknown region or routing scope" in msg


def test_dangling_provider_and_scope_member() -> None:
    scopes = "scopes:\n- id: x:y\n  kind: vertex\n  name: Y\n  members: [aws:us-east-1, gcp:nowhere1]\n" \
             "  source: {ref: test, confidence: confirmed}\n"
    msg = rejected(base(**{"scopes.yaml": scopes, "models.yaml": MODELS.replace("provider: acme", "provider: nope")}))
    assert "scopes.yaml:5: scopes[0].members[1]: unknown region 'gcp:nowhere1'" in msg
    assert f"models.yaml:{line_of(MODELS, 'provider: acme')}: models[0].provider: unknown provider 'nope'" in msg


def test_duplicate_id_across_files() -> None:
    extra = "jurisdictions:\n- code: DE\n  name: Germany again\n"
    msg = rejected(base(**{"more.yaml": extra}))
    expected = "more.yaml:2: jurisdictions[0]: duplicate jurisdiction id 'DE' (first defined at jurisdictions.yaml:4)"
    assert expected in msg


def test_duplicate_key_in_mapping() -> None:
    text = REGIONS + "  country: DE\n"
    msg = rejected(base(**{"regions.yaml": text}))
    assert f"regions.yaml:{len(text.splitlines())}: regions[0].country: duplicate key 'country'" in msg


def test_invalid_date() -> None:
    text = MODELS + ("  export_restrictions:\n  - id: letter\n    issued: 2026-13-45\n"
                     "    source: {ref: test, confidence: confirmed}\n")
    msg = rejected(base(**{"models.yaml": text}))
    assert f"models.yaml:{line_of(text, 'issued:')}: models[0].export_restrictions[0].issued:" in msg


def test_window_until_before_since() -> None:
    text = JURISDICTIONS + ("  ear_groups:\n  - group: D:5\n    since: 2026-02-03\n    until: 2025-01-01\n"
                            "    source: {ref: test, confidence: confirmed}\n")
    msg = rejected(base(**{"jurisdictions.yaml": text}))
    assert f"jurisdictions.yaml:{line_of(text, 'group: D:5')}: jurisdictions[1].ear_groups[0]:" in msg
    assert "must be after" in msg


def test_release_windows_out_of_order() -> None:
    text = MODELS + ("  covered_frontier:\n    designated: true\n"
                     "    government_access: 2026-09-01T00:00:00Z\n    public_release: 2026-07-01T00:00:00Z\n"
                     "    source: {ref: test, confidence: confirmed}\n")
    msg = rejected(base(**{"models.yaml": text}))
    line = line_of(text, "designated: true")
    assert f"models.yaml:{line}: models[0].covered_frontier: " in msg and "out of order" in msg


def test_alias_bomb_is_refused() -> None:
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n' \
           "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    msg = rejected(base(**{"bomb.yaml": bomb}))
    assert "bomb.yaml:1: YAML anchors and aliases are not allowed" in msg


def test_merge_keys_are_refused() -> None:
    text = REGIONS.replace("  partition: aws\n", "  partition: aws\n  <<: {city: x}\n")
    msg = rejected(base(**{"regions.yaml": text}))
    assert f"regions.yaml:{line_of(text, '<<')}:" in msg and "merge keys" in msg


def test_bad_yaml_syntax() -> None:
    text = REGIONS.replace("  partition: aws\n", "  partition: [aws\n")
    msg = rejected(base(**{"regions.yaml": text}))
    assert re.search(r"regions\.yaml:\d+: ", msg)


def test_file_size_limit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(io, "MAX_FILE_BYTES", 64)
    for name, text in base().items():
        (tmp_path / name).write_text(text)
    with pytest.raises(RegistryError, match=r"models\.yaml: file is \d+ bytes; the limit is 64"):
        load_dir(tmp_path)


def test_unknown_collection_and_overlay_target() -> None:
    overlay = "model_deployments:\n- model: acme.nope\n  target: aws:us-east-1\n" \
              "  source: {ref: test, confidence: confirmed}\nwidgets: []\n"
    msg = rejected(base(**{"demo.yaml": overlay}))
    assert "demo.yaml:2: model_deployments[0].model: unknown model 'acme.nope'" in msg
    assert "demo.yaml:5: widgets: unknown collection 'widgets'" in msg


def test_overlay_errors_point_at_the_overlay_file() -> None:
    overlay = "model_deployments:\n- model: acme.one\n  target: aws:nowhere-1\n" \
              "  source: {ref: test, confidence: confirmed}\n  demo: true\n"
    msg = rejected(base(**{"demo.yaml": overlay}))
    assert "demo.yaml:3: model_deployments[0].target: unknown region or routing scope 'aws:nowhere-1'" in msg


def test_trusted_partner_must_be_a_known_tenant() -> None:
    overlay = "model_trusted_partners:\n- model: acme.one\n  tenant: ghost\n  demo: true\n"
    msg = rejected(base(**{"demo.yaml": overlay}))
    assert "demo.yaml:3: model_trusted_partners[0].tenant: unknown tenant 'ghost'" in msg


def test_problems_carry_structured_fields() -> None:
    text = REGIONS.replace("country: US", "country: ZZ")
    with pytest.raises(RegistryError) as info:
        load_texts(sorted(base(**{"regions.yaml": text}).items()))
    (p,) = info.value.problems
    assert p.as_dict() == {"kind": "region", "id": "aws:us-east-1", "path": "country",
                           "message": "unknown jurisdiction 'ZZ'", "file": "regions.yaml",
                           "file_path": "regions[0].country", "line": line_of(text, "country: ZZ")}


def test_semantic_history_checks() -> None:
    text = JURISDICTIONS + ("  ofac:\n  - program: comprehensive\n    source: {ref: test, confidence: confirmed}\n"
                            "  - program: targeted\n    since: 2025-06-30\n")
    msg = rejected(base(**{"jurisdictions.yaml": text}))
    assert f"jurisdictions.yaml:{line_of(text, 'program: targeted')}: jurisdictions[1].ofac[1]:" in msg
    tenants = "tenants:\n- id: t1\n  name: T1\n  hq_country: US\n  residency: {kind: countries, countries: [DE, XX]}\n"
    msg = rejected(base(**{"tenants.yaml": tenants}))
    assert "tenants.yaml:5: tenants[0].residency.countries[1]: unknown jurisdiction 'XX'" in msg
