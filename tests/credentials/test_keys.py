"""`zizi credentials init` and loading keys: what C2PA validators accept, stored privately."""

from __future__ import annotations

import datetime
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from tests.helpers.c2pa_reader import read
from tests.helpers.cli import invoke
from zizi.credentials import keys
from zizi.credentials.keys import CredentialsError
from zizi.credentials.manifest import sealer, sign_file
from zizi.files import write_png

RECORD = {"statement": "AI-generated: a test", "checkpoints": [], "seeds": [0], "config": {}}


def _png(path: Path) -> Path:
    return write_png(path, np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8))


def test_init_writes_private_keys_in_the_config_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ZIZI_CONFIG", str(tmp_path / "cfg"))
    r = invoke("credentials", "init", "--org", "Jake Elwes Studio")
    assert r.exit_code == 0, r.output
    folder = tmp_path / "cfg" / "credentials"
    assert keys.default_dir() == folder and "timestamp authority" in r.output
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in (keys.SIGNER_CERT, keys.SIGNER_KEY, keys.ROOT_CERT, keys.ROOT_KEY):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    again = invoke("credentials", "init")
    assert again.exit_code == 1 and "--force" in again.output and "Traceback" not in again.output
    assert invoke("credentials", "init", "--force").exit_code == 0


def test_xdg_config_home_is_the_default(tmp_path, monkeypatch):
    monkeypatch.delenv("ZIZI_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert keys.default_dir() == tmp_path / "zizi" / "credentials"


def test_the_certificates_have_what_c2pa_requires(key_dir):
    leaf, *rest = x509.load_pem_x509_certificates((key_dir / keys.SIGNER_CERT).read_bytes())
    root = x509.load_pem_x509_certificate((key_dir / keys.ROOT_CERT).read_bytes())
    assert not rest  # the chain stops below the root
    assert leaf.issuer == root.subject != leaf.subject  # not a self-signed leaf
    ext = leaf.extensions
    assert ext.get_extension_for_oid(ExtensionOID.KEY_USAGE).value.digital_signature
    assert (
        ExtendedKeyUsageOID.EMAIL_PROTECTION
        in ext.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value
    )
    assert not ext.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca
    assert (
        leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
        == "Zizi Test Studio"
    )
    assert root.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca
    root.public_key().verify(
        leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(leaf.signature_hash_algorithm)
    )


def test_c2pa_validates_a_file_signed_with_them(key_dir, tmp_path):
    creds = keys.load(key_dir)
    out = tmp_path / "signed.png"
    write_png(out, np.zeros((16, 16, 3), np.uint8), seal=sealer(RECORD, creds))
    state, active, _ = read(out)
    assert state == "Valid"  # valid, but the local root is on no trust list
    assert active["signature_info"]["issuer"] == "Zizi Test Studio"
    anchored, _, _ = read(out, (key_dir / keys.ROOT_CERT).read_text())
    assert anchored == "Trusted"


def _self_signed(
    folder: Path, *, org: str | None = "Org", usage: bool = True, eku: bool = True, days: int = 30
) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(x509.Name(attrs))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=60))
        .not_valid_after(now + datetime.timedelta(days=days))
    )
    if usage:
        b = b.add_extension(keys._key_usage(digital_signature=True), critical=True)
    if eku:
        b = b.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / keys.SIGNER_CERT).write_bytes(
        b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    )
    (folder / keys.SIGNER_KEY).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder


def test_a_self_signed_leaf_is_refused_as_c2pa_refuses_it(tmp_path):
    folder = _self_signed(tmp_path / "org")
    with pytest.raises(CredentialsError, match="self-signed"):
        keys.load(folder)
    # c2pa's own signer refuses it too: the reason `init` makes a root and a leaf
    cert = (folder / keys.SIGNER_CERT).read_bytes()
    raw = keys.Credentials(
        folder,
        cert,
        (folder / keys.SIGNER_KEY).read_bytes(),
        "es256",
        None,
        "CN=leaf",
        "Org",
        datetime.datetime.now(datetime.timezone.utc),
    )
    with pytest.raises(CredentialsError, match="could not sign"):
        sign_file(
            _png(tmp_path / "in.png"), tmp_path / "out.png", "image/png", RECORD, raw, "out.png"
        )
    assert not (tmp_path / "out.png").exists() or (tmp_path / "out.png").stat().st_size == 0


def _issued(key_dir: Path, folder: Path, **kw) -> Path:
    """An organisation's folder: a leaf issued by the test root, with `kw` spoiling it."""
    root_key = serialization.load_pem_private_key((key_dir / keys.ROOT_KEY).read_bytes(), None)
    root = x509.load_pem_x509_certificate((key_dir / keys.ROOT_CERT).read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, "org signer")]
    if kw.get("org", True):
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, "An Organisation"))
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=10))
        .not_valid_after(now + datetime.timedelta(days=kw.get("days", 30)))
    )
    if kw.get("usage", True):
        b = b.add_extension(keys._key_usage(digital_signature=True), critical=True)
    if kw.get("eku", True):
        b = b.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
    if kw.get("aki", True):
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.public_key()), critical=False
        )
    folder.mkdir(parents=True)
    (folder / keys.SIGNER_CERT).write_bytes(
        b.sign(root_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    )
    other = ec.generate_private_key(ec.SECP256R1()) if kw.get("wrong_key") else key
    enc = (
        serialization.BestAvailableEncryption(b"pw")
        if kw.get("password")
        else serialization.NoEncryption()
    )
    (folder / keys.SIGNER_KEY).write_bytes(
        other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    )
    return folder


def test_an_organisations_own_certificate_signs(key_dir, tmp_path):
    creds = keys.load(_issued(key_dir, tmp_path / "org"))
    assert creds.organization == "An Organisation" and creds.root_pem is None
    out = tmp_path / "o.png"
    write_png(out, np.zeros((16, 16, 3), np.uint8), seal=sealer(RECORD, creds))
    assert read(out, (key_dir / keys.ROOT_CERT).read_text())[0] == "Trusted"


@pytest.mark.parametrize(
    "spoil,message",
    [
        ({"org": False}, "Organization"),
        ({"usage": False}, "digitalSignature"),
        ({"eku": False}, "extended key usages"),
        ({"aki": False}, "Authority Key Identifier"),
        ({"days": -1}, "expired"),
        ({"wrong_key": True}, "not the key"),
        ({"password": True}, "encrypted"),
    ],
)
def test_unusable_organisation_keys_are_one_clear_line(key_dir, tmp_path, spoil, message):
    folder = _issued(key_dir, tmp_path / "org", **spoil)
    with pytest.raises(CredentialsError, match=message):
        keys.load(folder)
    r = invoke(
        "generate",
        tmp_path / "missing.safetensors",
        "--seeds",
        "0",
        "--out",
        tmp_path / "g",
        "--credentials",
        folder,
    )
    assert r.exit_code == 1 and message in r.output and "Traceback" not in r.output


def test_a_folder_without_keys_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CredentialsError, match="signer.pem not found"):
        keys.load(tmp_path / "empty")
    assert keys.find(None) is None  # nothing in the (test) config folder: unsigned
    os.makedirs(keys.default_dir())
    keys.init(None, "Me")
    assert keys.find(None).organization == "Me"
