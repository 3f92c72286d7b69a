"""Reading a file's Content Credentials back with c2pa's own validation.

`check` answers what a person asks of a picture or video: is it AI-generated, who signed
it, is the signature valid and does anyone trust the signer, what went into it, and was
the file changed after signing. Trust is judged against c2pa's trust settings plus, when
there is one, the local root of this machine (`zizi credentials init`) or of `--trust`:
a file signed with a local root is "trusted here", which nobody else's validator says.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zizi.credentials.keys import CredentialsError
from zizi.credentials.manifest import OFFLINE, RECORD_LABEL

# digital source types (IPTC) that mean "made by a trained model"
AI_SOURCE_TYPES = (
    "trainedAlgorithmicMedia",
    "compositeWithTrainedAlgorithmicMedia",
    "compositeSynthetic",
)
# validation failures that mean the bytes or the manifest changed after signing
TAMPER_CODES = (
    "dataHash.mismatch",
    "bmffHash.mismatch",
    "boxesHash.mismatch",
    "collectionHash.mismatch",
    "hashedURI.mismatch",
    "claimSignature.mismatch",
    "hashedURI.missing",
    "dataHash.malformed",
    "bmffHash.malformed",
)


@dataclass
class Check:
    """What `zizi credentials verify` reports about one file."""

    path: Path
    found: bool  # the file carries a C2PA manifest
    state: str | None = None  # c2pa's validation_state: Invalid, Valid or Trusted
    ai_generated: bool | None = None  # a created action with an AI digital source type
    source_type: str | None = None  # that IPTC digital source type (its last path part)
    signer: str | None = None  # the signing certificate's Organization (issuer field in c2pa)
    signer_name: str | None = None  # its common name
    claim_generator: str | None = None  # the software that wrote the manifest
    trusted_by: str | None = None  # "local" (this machine's root only), "list", or None
    tampered: bool = False  # bytes or manifest changed after signing
    failures: list[tuple[str, str]] = field(default_factory=list)  # (code, explanation)
    ingredients: list[dict[str, Any]] = field(default_factory=list)  # title, sha256, what
    training_mining: dict[str, str] = field(default_factory=dict)  # use -> allowed/notAllowed
    record: dict[str, Any] | None = None  # zizi's provenance record, when zizi signed it

    @property
    def valid(self) -> bool:
        return self.found and not self.tampered and self.state in ("Valid", "Trusted")


def trust_anchors(extra: list[str | os.PathLike] | None = None) -> str | None:
    """PEM roots to trust when reading: the local root (when `init` made one) and `extra`."""
    from zizi.credentials.keys import ROOT_CERT, default_dir

    pems = []
    paths = [Path(p) for p in extra or []]
    local = default_dir() / ROOT_CERT
    if local.is_file():
        paths.append(local)
    for p in paths:
        try:
            pems.append(p.read_text(encoding="ascii"))
        except (OSError, ValueError) as e:
            raise CredentialsError(f"cannot read the trusted root {p}: {e}") from e
    return "\n".join(pems) or None


def check(path: str | os.PathLike, anchors: str | None = None) -> Check:
    """Read and validate the manifest in `path` (offline); `anchors`: PEM roots to trust."""
    import c2pa

    path = Path(path)
    if not path.is_file():
        raise CredentialsError(
            f"{path} not found" if not path.exists() else f"{path} is not a file"
        )
    settings: dict[str, Any] = {"verify": dict(OFFLINE["verify"])}
    if anchors:
        settings["trust"] = {"user_anchors": anchors}
    try:
        reader = c2pa.Reader(str(path), context=c2pa.Context.from_dict(settings))
    except c2pa.C2paError as e:
        text = str(e)
        if (
            "ManifestNotFound" in type(e).__name__
            or "no JUMBF" in text
            or "not found" in text.lower()
        ):
            return Check(path=path, found=False)
        if "NotSupported" in type(e).__name__ or "type is unsupported" in text:
            raise CredentialsError(
                f"{path.name}: c2pa cannot read this kind of file ({text})"
            ) from e
        # a manifest that cannot even be parsed was damaged after signing
        return Check(
            path=path,
            found=True,
            state="Invalid",
            tampered=True,
            failures=[("manifest.unreadable", text)],
        )
    with reader:
        state = reader.get_validation_state()
        results = reader.get_validation_results() or {}
        active = reader.get_active_manifest() or {}
    out = Check(path=path, found=True, state=state)
    manifest_results = results.get("activeManifest") or {}
    for item in manifest_results.get("failure", []):
        out.failures.append((item.get("code", ""), item.get("explanation", "")))
    out.tampered = any(code.endswith(TAMPER_CODES) for code, _ in out.failures) or (
        state == "Invalid"
        and any(code != "signingCredential.untrusted" for code, _ in out.failures)
    )
    for item in manifest_results.get("success", []):
        if item.get("code") == "signingCredential.trusted":
            out.trusted_by = "local" if "user_anchors" in item.get("explanation", "") else "list"
    info = active.get("signature_info") or {}
    out.signer, out.signer_name = info.get("issuer"), info.get("common_name")
    gen = (active.get("claim_generator_info") or [{}])[0]
    out.claim_generator = " ".join(str(gen[k]) for k in ("name", "version") if gen.get(k)) or None
    for a in active.get("assertions", []):
        label, data = a.get("label", ""), a.get("data") or {}
        if label.startswith("c2pa.actions"):
            for act in data.get("actions", []):
                src = str(act.get("digitalSourceType") or "").rsplit("/", 1)[-1]
                if act.get("action") == "c2pa.created" and src:
                    out.source_type = src
                    out.ai_generated = src in AI_SOURCE_TYPES
        elif label == "cawg.training-mining":
            out.training_mining = {
                k: str(v.get("use")) for k, v in (data.get("entries") or {}).items()
            }
        elif label == RECORD_LABEL:
            try:
                out.record = json.loads(data.get("json", ""))
            except (TypeError, ValueError):
                out.record = None
    if out.ai_generated is None and out.source_type is None:
        out.ai_generated = False
    for ing in active.get("ingredients", []):
        iid = str(ing.get("instance_id") or "")
        out.ingredients.append(
            {
                "title": ing.get("title"),
                "sha256": iid[7:] if iid.startswith("sha256:") else None,
                "relationship": ing.get("relationship"),
                "description": ing.get("description"),
            }
        )
    return out
