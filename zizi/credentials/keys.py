"""Signing keys people can actually have, offline.

C2PA validators refuse a self-signed signing certificate, so `init` makes two: a local
root (a CA, used only to issue) and a signing certificate issued by it, with what the
validators require: the digitalSignature key usage, the emailProtection and C2PA
claim-signing extended usages, and an Organization in the subject. Everything is written
0600 into a 0700 folder under zizi's config folder. An organisation's own certificate and
key are used the same way from a folder of theirs (`--credentials DIR`).
"""

from __future__ import annotations

import datetime
import getpass
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from zizi.errors import ZiziError
from zizi.files import commit_temp, temp_beside

SIGNER_CERT = "signer.pem"  # the signing certificate chain, leaf first (PEM)
SIGNER_KEY = "signer.key"  # its private key (PEM, unencrypted PKCS#8; 0600)
ROOT_CERT = "root.pem"  # the root that issued it: the trust anchor `verify` adds locally
ROOT_KEY = "root.key"  # the local root's key (0600), kept so a new signing cert can be issued

ROOT_YEARS = 10  # the root outlives several signing certificates
SIGNER_YEARS = 2  # short-lived leaf: a leaked key stops being useful on its own

# Extended key usages C2PA accepts for claim signing (C2PA 2.x, "Certificate profile")
EKU_EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4"
EKU_DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"
EKU_C2PA_CLAIM_SIGNING = "1.3.6.1.4.1.62558.2.1"
EKU_MS_C2PA_SIGNING = "1.3.6.1.4.1.311.76.59.1.9"
C2PA_EKUS = {
    EKU_EMAIL_PROTECTION,
    EKU_DOCUMENT_SIGNING,
    EKU_C2PA_CLAIM_SIGNING,
    EKU_MS_C2PA_SIGNING,
}


class CredentialsError(ZiziError):
    """Signing keys are missing, unreadable, or not acceptable to C2PA validators."""


@dataclass(frozen=True)
class Credentials:
    """A signing certificate chain and its key, ready for c2pa's signer."""

    folder: Path  # where they were read from
    chain_pem: bytes  # leaf first, then intermediates (and possibly the root)
    key_pem: bytes  # unencrypted private key
    alg: str  # c2pa's name for the signature algorithm: es256, es384, es512, ps256, ed25519
    root_pem: bytes | None  # the issuing root, when the folder has one (root.pem)
    subject: str  # the leaf's subject, as a person reads it
    organization: str  # the leaf's Organization (O=): what verify shows as "signed by"
    not_after: datetime.datetime  # the leaf expires then; signing after it fails


def config_dir() -> Path:
    """zizi's config folder: $ZIZI_CONFIG, else $XDG_CONFIG_HOME/zizi, else ~/.config/zizi."""
    env = os.environ.get("ZIZI_CONFIG")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".config") / "zizi"


def default_dir() -> Path:
    """Where `zizi credentials init` puts the keys, and where commands look by default."""
    return config_dir() / "credentials"


def find(folder: str | os.PathLike | None) -> Credentials | None:
    """The credentials to sign with: `folder` when given (it must hold them), else the
    default folder when `init` has filled it, else None (outputs stay unsigned)."""
    if folder is not None:
        return load(folder)
    d = default_dir()
    if (d / SIGNER_CERT).is_file() or (d / SIGNER_KEY).is_file():
        return load(d)
    return None


def default_organization() -> str:
    """A readable Organization for a person's own keys: their login and machine."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name (some containers): the machine still identifies it
        user = "someone"
    return f"{user} on {socket.gethostname()} (zizi local)"


def _name(common_name: str, organization: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )


def _key_usage(**on: bool):
    from cryptography import x509

    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


def make(
    organization: str, common_name: str = "zizi signer", now: datetime.datetime | None = None
) -> dict[str, bytes]:
    """A new root and a signing certificate it issued, as PEM files {name: bytes}.

    ECDSA P-256 (ES256): the algorithm every C2PA validator supports, with small keys.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

    if not organization.strip():
        raise CredentialsError("the Organization must not be empty; give --org NAME")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    start = now - datetime.timedelta(minutes=5)  # tolerate a little clock skew between machines
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{organization} zizi local root", organization)
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + datetime.timedelta(days=365 * ROOT_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization))
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + datetime.timedelta(days=365 * SIGNER_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.EMAIL_PROTECTION, ObjectIdentifier(EKU_C2PA_CLAIM_SIGNING)]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )

    def pem(cert) -> bytes:
        return cert.public_bytes(serialization.Encoding.PEM)

    def secret(k) -> bytes:
        return k.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    # the chain stops below the root: a validator must find the root on its own trust list
    return {
        SIGNER_CERT: pem(leaf),
        SIGNER_KEY: secret(key),
        ROOT_CERT: pem(root),
        ROOT_KEY: secret(root_key),
    }


def init(
    folder: str | os.PathLike | None = None, organization: str | None = None, *, force: bool = False
) -> Credentials:
    """Make a local root and signing certificate in `folder` (default: `default_dir()`).

    Refuses to replace existing keys without `force`: files signed with the old ones stay
    valid, but a new root is a different signer to anyone who trusted the old one.
    """
    folder = Path(folder) if folder is not None else default_dir()
    existing = [n for n in (SIGNER_CERT, SIGNER_KEY, ROOT_CERT, ROOT_KEY) if (folder / n).exists()]
    if existing and not force:
        raise CredentialsError(
            f"{folder / existing[0]} already exists; pass --force to make new "
            "keys (files signed with the old ones keep their signature)"
        )
    files = make(organization or default_organization())
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)
    except OSError as e:
        raise CredentialsError(f"cannot create {folder}: {e.strerror or e}") from e
    for name, data in files.items():
        write_secret(folder / name, data)
    return load(folder)


def write_secret(path: Path, data: bytes) -> None:
    """Write `data` atomically with 0600 permissions (set before any byte is written)."""
    fd, tmp = temp_beside(path, CredentialsError)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        commit_temp(tmp, path, error=CredentialsError)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _algorithm(key) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(key.curve.name)
        if alg is None:
            raise CredentialsError(
                f"the key's curve {key.curve.name} is not one C2PA allows (P-256, P-384 or P-521)"
            )
        return alg
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"  # C2PA allows RSA only with PSS padding
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise CredentialsError(
        f"a {type(key).__name__} key cannot sign C2PA manifests; use ECDSA (P-256), RSA or Ed25519"
    )


def load(folder: str | os.PathLike) -> Credentials:
    """Read and check `folder`/signer.pem + signer.key (+ root.pem when present).

    Checked here, so a person learns before a long render, in one line, what a validator
    would refuse: a self-signed leaf, no digitalSignature usage, no C2PA extended usage,
    no Organization, no Authority Key Identifier, an expired certificate, or a key that
    does not match it.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtensionOID, NameOID

    folder = Path(folder).expanduser()
    cert_path, key_path = folder / SIGNER_CERT, folder / SIGNER_KEY
    if not folder.is_dir():
        raise CredentialsError(
            f"{folder} is not a folder of signing credentials; make one with "
            "`zizi credentials init`, or give a folder holding "
            f"{SIGNER_CERT} and {SIGNER_KEY}"
        )
    for p in (cert_path, key_path):
        if not p.is_file():
            raise CredentialsError(
                f"{p} not found: a credentials folder holds {SIGNER_CERT} (the "
                f"certificate chain, leaf first) and {SIGNER_KEY} (its key)"
            )
    try:
        chain_pem, key_pem = cert_path.read_bytes(), key_path.read_bytes()
        root_pem = (folder / ROOT_CERT).read_bytes() if (folder / ROOT_CERT).is_file() else None
    except OSError as e:
        raise CredentialsError(f"cannot read the credentials in {folder}: {e.strerror or e}") from e
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as e:
        raise CredentialsError(f"{cert_path} holds no readable PEM certificate ({e})") from e
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError as e:
        raise CredentialsError(
            f"{key_path} is encrypted with a password; zizi signs unattended, "
            "so give an unencrypted key file (readable only by you: 0600)"
        ) from e
    except ValueError as e:
        raise CredentialsError(f"{key_path} holds no readable PEM private key ({e})") from e
    alg = _algorithm(key)
    leaf = chain[0]
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(
        serialization.Encoding.DER, pub
    ) != key.public_key().public_bytes(serialization.Encoding.DER, pub):
        raise CredentialsError(f"{key_path} is not the key of the first certificate in {cert_path}")
    if leaf.issuer == leaf.subject:
        raise CredentialsError(
            f"{cert_path} is self-signed, and C2PA validators refuse a "
            "self-signed signing certificate; `zizi credentials init` makes a "
            "root and a signing certificate it issued"
        )
    orgs = leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if not orgs or not str(orgs[0].value).strip():
        raise CredentialsError(
            f"{cert_path} has no Organization (O=) in its subject; C2PA validators require one"
        )
    try:
        usage = leaf.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE).value
        digital = usage.digital_signature
    except x509.ExtensionNotFound:
        digital = False
    if not digital:
        raise CredentialsError(
            f"{cert_path} lacks the digitalSignature key usage that C2PA "
            "requires of a signing certificate"
        )
    try:
        ekus = {
            o.dotted_string
            for o in leaf.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value
        }
    except x509.ExtensionNotFound:
        ekus = set()
    if not ekus & C2PA_EKUS:
        raise CredentialsError(
            f"{cert_path} has none of the extended key usages C2PA accepts "
            "(emailProtection, documentSigning, or C2PA claim signing)"
        )
    try:
        leaf.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    except x509.ExtensionNotFound:
        raise CredentialsError(
            f"{cert_path} has no Authority Key Identifier, which C2PA requires "
            "of a signing certificate (c2pa calls it invalid)"
        ) from None
    now = datetime.datetime.now(datetime.timezone.utc)
    if leaf.not_valid_after_utc < now:
        raise CredentialsError(
            f"{cert_path} expired on {leaf.not_valid_after_utc:%Y-%m-%d}; "
            "make new keys (`zizi credentials init --force`) or renew it"
        )
    if leaf.not_valid_before_utc > now:
        raise CredentialsError(
            f"{cert_path} is valid only from {leaf.not_valid_before_utc}; "
            "check this machine's clock"
        )
    return Credentials(
        folder=folder,
        chain_pem=chain_pem,
        key_pem=key_pem,
        alg=alg,
        root_pem=root_pem,
        subject=leaf.subject.rfc4514_string(),
        organization=str(orgs[0].value),
        not_after=leaf.not_valid_after_utc,
    )
