"""`zizi credentials`: make signing keys, and check a file's Content Credentials."""

from __future__ import annotations

from pathlib import Path

import click

from zizi.cli.options import overwrite_option


@click.group("credentials")
def credentials() -> None:
    """Content Credentials (C2PA): keys that sign every output, and verifying a file."""


@credentials.command("init")
@click.option(
    "--org",
    "organization",
    default=None,
    help="Organization (O=) in the certificates: who a verifier sees as the signer "
    "[default: your login and machine name].",
)
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to put the keys [default: $ZIZI_CONFIG, else $XDG_CONFIG_HOME/zizi, "
    "else ~/.config/zizi; in its credentials/ folder].",
)
@overwrite_option
def init_cmd(organization: str | None, folder: Path | None, force: bool) -> None:
    """Make a local root and a signing certificate; render, generate and mirror then sign.

    Offline: no certificate authority, no timestamp authority. The root is yours alone,
    so other people's validators call these signatures valid but untrusted.
    """
    from zizi.credentials.keys import ROOT_CERT, SIGNER_CERT, init

    creds = init(folder, organization, force=force)
    click.echo(
        f"Made a local root and a signing certificate for {creds.organization!r} in "
        f"{creds.folder} (files 0600)."
    )
    click.echo(
        f"  signing certificate: {creds.folder / SIGNER_CERT} (valid until "
        f"{creds.not_after:%Y-%m-%d})"
    )
    click.echo(
        f"  local root:          {creds.folder / ROOT_CERT} (give it to whoever should "
        "trust your files)"
    )
    click.echo(
        "No timestamp authority is used (zizi never goes online), so a signature counts "
        "only while the certificate is valid. See docs/credentials.md."
    )


@credentials.command("verify")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--trust",
    "trust",
    type=click.Path(dir_okay=False, path_type=Path),
    multiple=True,
    help="A root certificate (PEM) to trust besides this machine's local root; repeat.",
)
def verify_cmd(files: tuple[Path, ...], trust: tuple[Path, ...]) -> None:
    """Read each FILE's Content Credentials: AI-generated or not, signer, validity,
    ingredients, and whether the file changed after signing. Exit status 1 when a file
    has no credentials or fails validation."""
    from zizi.credentials.verify import check, trust_anchors

    anchors = trust_anchors(list(trust))
    bad = 0
    for i, f in enumerate(files):
        if i:
            click.echo("")
        result = check(f, anchors)
        for line in describe(result):
            click.echo(line)
        bad += not result.valid
    if bad:
        raise click.exceptions.Exit(1)


def describe(c) -> list[str]:
    """The lines a person reads about one checked file."""
    if not c.found:
        sidecar = c.path.with_name(c.path.name + ".json")
        more = f"; zizi's unsigned record is beside it: {sidecar.name}" if sidecar.is_file() else ""
        return [f"{c.path}: no Content Credentials (no C2PA manifest){more}"]
    lines = [f"{c.path}:"]
    if c.tampered:
        lines.append(
            "  TAMPERED: the file was changed after it was signed; its credentials no "
            "longer describe it"
        )
    if any(code == "manifest.unreadable" for code, _ in c.failures):
        return [
            *lines,
            "  signature: INVALID: the manifest cannot be read (the file is damaged)",
            *(f"    {why}" for _, why in c.failures),
        ]
    if c.ai_generated:
        lines.append(f"  AI-generated: yes ({c.source_type})")
    else:
        lines.append(f"  AI-generated: not declared ({c.source_type or 'no created action'})")
    who = c.signer or "unknown"
    if c.signer_name:
        who += f" ({c.signer_name})"
    lines.append(
        f"  signed by: {who}" + (f", with {c.claim_generator}" if c.claim_generator else "")
    )
    if c.tampered or c.state == "Invalid":
        status = "INVALID"
    elif c.trusted_by == "local":
        status = (
            "valid, trusted here only: signed under a local root on this machine (or "
            "given with --trust), which is on no public trust list"
        )
    elif c.trusted_by == "list":
        status = "valid and trusted (the signer is on the C2PA trust list)"
    else:
        status = (
            "valid but untrusted: the signature and the file match, but the signer's "
            "root is on no trust list this machine knows"
        )
    lines.append(f"  signature: {status}")
    for code, why in c.failures:
        if code != "signingCredential.untrusted" or c.state == "Invalid":
            lines.append(f"    {code}: {why}")
    if c.ingredients:
        lines.append("  ingredients:")
        for ing in c.ingredients:
            sha = f" sha256 {ing['sha256']}" if ing.get("sha256") else ""
            lines.append(f"    {ing.get('title')}{sha}")
    if c.training_mining:
        uses = sorted(set(c.training_mining.values()))
        lines.append(f"  training and data mining: {', '.join(uses)}")
    return lines
