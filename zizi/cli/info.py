"""`zizi info`: what a checkpoint holds, read from its header alone."""

from __future__ import annotations

import json
from pathlib import Path

import click

from zizi.cli.options import CHECKPOINT


@click.command("info")
@click.argument("checkpoint", type=CHECKPOINT)
@click.option("--json", "as_json", is_flag=True, help="Print the full header as JSON.")
def info(checkpoint: Path, as_json: bool) -> None:
    """Describe CHECKPOINT: resolution, dims, parameter counts, mixed precision, provenance."""
    from zizi.config import DiscriminatorConfig, GeneratorConfig, from_dict, to_dict
    from zizi.io.checkpoint import read_header, tensor_shapes
    from zizi.text import printable

    doc = read_header(checkpoint)
    if as_json:
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
        return
    shapes = tensor_shapes(checkpoint)
    counts: dict[str, int] = {}
    for key, shape in shapes.items():
        net, _, name = key.partition(".")
        if name.endswith("noise_const") or name.endswith("w_avg"):
            continue  # buffers, not trainable parameters
        n = 1
        for d in shape:
            n *= d
        counts[net] = counts.get(net, 0) + n
    click.echo(f"{printable(checkpoint)}  (zizi checkpoint, format {doc['format_version']})")
    for net, entry in doc["nets"].items():
        cls = GeneratorConfig if entry["kind"] == "generator" else DiscriminatorConfig
        c = to_dict(
            from_dict(cls, entry["config"], typed=False)
        )  # defaults filled in (checked on read)
        line = f"  {net:<6} {entry['kind']:<14} {c['img_resolution']}x{c['img_resolution']}"
        if entry["kind"] == "generator":
            line += (
                f"  z={c['z_dim']} w={c['w_dim']} c={c['c_dim']}"
                f"  mapping layers={c['mapping']['num_layers']}"
            )
        else:
            line += f"  c={c['c_dim']}  mbstd group={c['mbstd_group_size']}"
        line += (
            f"  channels base={c['channel_base']} max={c['channel_max']}"
            f"  fp16 top {c['num_fp16_res']} res, clamp={c['conv_clamp']}"
            f"  params={counts.get(net, 0):,}"
        )
        click.echo(line)
    if doc.get("augment_p") is not None:
        click.echo(f"  ADA augment p = {doc['augment_p']:.4f}")
    prov = doc.get("provenance") or {}
    if prov:
        click.echo("  provenance:")
        for k in sorted(prov):
            click.echo(f"    {printable(k)}: {printable(prov[k])}")  # from a stranger's file
