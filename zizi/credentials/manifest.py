"""The C2PA manifest of one output, built from its provenance record, and signing.

The manifest says what the sidecar record says, in the standard others read: a
`c2pa.created` action whose digital source type is IPTC's trainedAlgorithmicMedia, zizi
as the claim generator, each checkpoint (and the training dataset's manifest, when the
run records it) as an ingredient identified by its sha256, `cawg.training-mining` set to
notAllowed (the people in the data did not consent to further training), and the whole
zizi record (as JSON text) in a `zizi.provenance` assertion, so seeds and settings are
signed too.

Signing rewrites a finished temporary file into a signed one beside it and moves that
over the temporary file, so `zizi.files` commits only a signed file under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from zizi.credentials.keys import Credentials, CredentialsError
from zizi.files import Seal, temp_beside

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
# the CAWG training-and-data-mining assertion: every use the people in the data never agreed to
TRAINING_MINING_USES = (
    "cawg.ai_generative_training",
    "cawg.ai_training",
    "cawg.ai_inference",
    "cawg.data_mining",
)
RECORD_LABEL = "zizi.provenance"

MIME_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
}

# Offline by construction: no remote manifests, no OCSP, no timestamp authority. Thumbnails
# are left out: the asset is its own picture, and a 1024-px JPEG per frame costs time.
OFFLINE = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}


def mime_type(path: Path) -> str:
    """The MIME type c2pa needs, from the output's name."""
    try:
        return MIME_TYPES[Path(path).suffix.lower()]
    except KeyError:
        raise CredentialsError(
            f"cannot sign {Path(path).name}: Content Credentials are written "
            f"into {', '.join(sorted(MIME_TYPES))} files"
        ) from None


def manifest(record: dict[str, Any], title: str) -> dict[str, Any]:
    """The manifest definition (c2pa's JSON) for an output with this provenance record."""
    from zizi import __version__

    agent = {"name": "zizi", "version": __version__}
    ingredients = []
    for ck in record.get("checkpoints") or []:
        what = f"StyleGAN2 checkpoint, sha256 {ck['sha256']}"
        if ck.get("kimg") is not None:
            what += f", trained {ck['kimg']:g} kimg"
        ingredients.append(
            {
                "title": ck["file"],
                "format": "application/octet-stream",
                "relationship": "inputTo",
                "instance_id": f"sha256:{ck['sha256']}",
                "description": what,
            }
        )
    dataset = record.get("dataset_manifest_sha256")
    if dataset:
        ingredients.append(
            {
                "title": "manifest.json",
                "format": "application/json",
                "relationship": "inputTo",
                "instance_id": f"sha256:{dataset}",
                "description": f"the training dataset's manifest, sha256 {dataset}",
            }
        )
    action = {
        "action": "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": agent,
        "description": record.get("statement", ""),
    }
    return {
        "claim_generator_info": [agent],
        "title": title,
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": [action]}},
            {
                "label": "cawg.training-mining",
                "data": {"entries": {use: {"use": "notAllowed"} for use in TRAINING_MINING_USES}},
            },
            # as JSON text: c2pa's CBOR conversion would turn a list of small ints into bytes
            {"label": RECORD_LABEL, "data": {"json": json.dumps(record, sort_keys=True)}},
        ],
        "ingredients": ingredients,
    }


def sign_file(
    src: Path, dst: Path, mime: str, record: dict[str, Any], creds: Credentials, title: str
) -> None:
    """Write `src` with a signed manifest embedded to `dst` (c2pa verifies it after signing)."""
    import c2pa

    settings = {**OFFLINE, "builder": {"thumbnail": {"enabled": False}}}
    # the check after signing proves the hashes and the signature; whether anyone trusts
    # the root is a question for the reader (`zizi credentials verify`), not for signing
    settings["verify"] = {**OFFLINE["verify"], "verify_after_sign": True, "verify_trust": False}
    try:
        ctx = c2pa.Context.from_dict(settings)
        signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(creds.alg, creds.chain_pem, creds.key_pem, None)
        )
        with (
            c2pa.Builder(manifest(record, title), context=ctx) as builder,
            open(src, "rb") as source,
            open(dst, "w+b") as dest,
        ):
            builder.sign(signer, mime, source, dest)
            dest.flush()
            os.fsync(dest.fileno())
    except c2pa.C2paError as e:
        raise CredentialsError(
            f"could not sign {title} with the credentials in {creds.folder}: {e}"
        ) from e


def sign_in_place(
    tmp: str | os.PathLike, final: str | os.PathLike, record: dict[str, Any], creds: Credentials
) -> None:
    """Replace the finished temporary file `tmp` (to become `final`) by its signed version."""
    tmp, final = Path(tmp), Path(final)
    mime = mime_type(final)
    fd, signed = temp_beside(tmp, CredentialsError)
    os.close(fd)
    try:
        sign_file(tmp, Path(signed), mime, record, creds, final.name)
        os.replace(signed, tmp)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(signed)


def sealer(record: dict[str, Any], creds: Credentials | None) -> Seal | None:
    """The `seal` for `zizi.files.atomic_write` (tmp, final) that signs an output with
    this record; None when there are no credentials (the output keeps only the record)."""
    if creds is None:
        return None
    return lambda tmp, final: sign_in_place(tmp, final, record, creds)
