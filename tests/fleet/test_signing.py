"""Signing key handling, algorithms, the notifier, and the operator CLI."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from broker.fleet import ActivationNotifier, FleetConfig, FleetService
from broker.fleet.bundle import build_bundle
from broker.fleet.errors import SigningKeyError
from broker.fleet.signing import BundleSigner, load_or_create_signer, public_key_path
from broker.fleet.verify import main as verify_main
from broker.fleet.verify import verify_bundle
from tests.fleet.conftest import KEY_ID, sample_bundle


def test_dev_key_is_created_private_and_reused(tmp_path: Path) -> None:
    service = FleetService.open(tmp_path, FleetConfig())
    key_file = tmp_path / "keys" / "opa-bundle-signing.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert public_key_path(key_file).read_bytes() == service.signer.public_pem()
    assert isinstance(service.signer.key, rsa.RSAPrivateKey) and service.signer.key.key_size == 3072
    again = FleetService.open(tmp_path, FleetConfig())
    assert again.signer.public_pem() == service.signer.public_pem()


def test_configured_key_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="does not exist"):
        FleetService.open(tmp_path, FleetConfig(signing_key_file=tmp_path / "missing.pem"))


def test_key_must_fit_algorithm(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(SigningKeyError, match="EC private key"):
        BundleSigner(rsa_key, KEY_ID, "ES256")
    with pytest.raises(SigningKeyError, match="HS"):
        BundleSigner(rsa_key, KEY_ID, "HS256")
    with pytest.raises(SigningKeyError):
        BundleSigner(ec.generate_private_key(ec.SECP384R1()), KEY_ID, "ES256")


def test_es256_bundles_verify_but_are_not_byte_stable(tmp_path: Path) -> None:
    signer = load_or_create_signer(tmp_path / "es.pem", key_id="es", algorithm="ES256")
    a, b = build_bundle(sample_bundle(), signer), build_bundle(sample_bundle(), signer)
    for built in (a, b):
        verify_bundle(built.content, {"es": (signer.key.public_key(), "ES256")}, key_id="es")
    assert a.etag != b.etag  # why RS256 is the default: ECDSA signatures are randomised


def test_verify_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    signer = load_or_create_signer(tmp_path / "k.pem", key_id=KEY_ID)
    bundle = tmp_path / "bundle.tar.gz"
    bundle.write_bytes(build_bundle(sample_bundle(), signer).content)
    pub = str(public_key_path(tmp_path / "k.pem"))
    assert verify_main([str(bundle), "--key", pub, "--key-id", KEY_ID, "--revision", "p-7+r42"]) == 0
    assert "OK revision=p-7+r42" in capsys.readouterr().out
    assert verify_main([str(bundle), "--key", pub]) == 0  # key id taken from the JWS header
    other = load_or_create_signer(tmp_path / "other.pem", key_id=KEY_ID)
    assert verify_main([str(bundle), "--key", str(public_key_path(tmp_path / "other.pem"))]) == 1
    assert "FAIL" in capsys.readouterr().out
    assert other.key_id == KEY_ID


def test_notifier_generation_closes_the_race() -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        n = ActivationNotifier()
        seen = n.generation
        n.notify()  # happened between reading the bundle and starting to wait
        immediate = await n.wait_changed(5, since=seen)
        timed_out = await n.wait_changed(0.05)
        waiter = asyncio.create_task(n.wait_changed(5))
        await asyncio.sleep(0.01)
        n.notify()
        return immediate, timed_out, await waiter

    assert asyncio.run(scenario()) == (True, False, True)
