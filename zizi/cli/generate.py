"""`zizi generate`: images for seeds, the same faces the reference tools draw."""

from __future__ import annotations

import math
from pathlib import Path

import click

from zizi.cli.options import (
    CHECKPOINT,
    UNSIGNED_HINT,
    class_option,
    credentials_option,
    device_option,
    mix_options,
    noise_mode_option,
    precision_option,
    progress_bar,
    seeds_option,
    signing_credentials,
    trunc_cutoff_option,
    trunc_option,
    which_option,
)

# |psi| beyond a few already draws noise; far beyond, w overflows float32 on the way to
# the network, so larger values are refused rather than turned into NaN images.
MAX_PSI = 100.0


@click.command("generate")
@click.argument("checkpoint", type=CHECKPOINT)
@seeds_option("required unless --mix-rows/--mix-cols draw a style-mixing grid.")
@trunc_option(f"; between -{MAX_PSI:g} and {MAX_PSI:g} (faces fall apart well before that)")
@trunc_cutoff_option
@noise_mode_option()
@class_option
@which_option("G_ema", "Which generator: the EMA weights (usual) or the raw ones.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output folder; writes seedNNNN.png per seed.",
)
@click.option("--grid", is_flag=True, help="Also write grid.png with all images.")
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=None,
    help="Images per forward pass [default: 8 on CUDA, 1 on the CPU, where larger "
    "batches measured slower per image].",
)
@mix_options(required=False, rows_more=" Needs --mix-cols.")
@click.option(
    "--latent",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Draw a projected latent (from `zizi project` or `zizi mirror --keep-latent`) "
    "instead of seeds, with its fitted noise maps (--noise-mode const): writes "
    "<latent name>.png.",
)
@credentials_option
@device_option
@precision_option
def generate(
    checkpoint: Path,
    seeds: str | None,
    trunc: float,
    trunc_cutoff: int | None,
    noise_mode: str,
    class_idx: int | None,
    which: str,
    out: Path,
    grid: bool,
    batch: int | None,
    mix_rows: str | None,
    mix_cols: str | None,
    mix_styles: str,
    latent: Path | None,
    credentials: Path | None,
    device: str,
    precision: str | None,
) -> None:
    """Generate one PNG per seed from CHECKPOINT (a zizi .safetensors, or a training run
    folder: its newest snapshot)."""
    from zizi.errors import ConfigError, ZiziError
    from zizi.latents import parse_seeds
    from zizi.text import plural, printable

    mixing = mix_rows is not None or mix_cols is not None
    if mixing and (mix_rows is None or mix_cols is None):
        raise click.UsageError("style mixing needs both --mix-rows and --mix-cols")
    if mixing and seeds is not None:
        raise click.UsageError("give either --seeds or --mix-rows/--mix-cols, not both")
    if latent is not None and (mixing or seeds is not None):
        raise click.UsageError("--latent draws one latent; leave out --seeds and --mix-*")
    if not mixing and seeds is None and latent is None:
        raise click.UsageError(
            "give --seeds (e.g. --seeds 0-7), --mix-rows and --mix-cols, or --latent FILE"
        )
    parsed: dict[str, list[int]] = {}
    for hint, text in (
        ("--seeds", seeds),
        ("--mix-rows", mix_rows),
        ("--mix-cols", mix_cols),
        ("--mix-styles", mix_styles if mixing else None),
    ):
        if text is None:
            continue
        try:
            parsed[hint] = parse_seeds(text)
        except ConfigError as e:
            raise click.BadParameter(str(e), param_hint=hint) from None
    seed_list = parsed.get("--seeds", [])
    if not math.isfinite(trunc):
        raise click.BadParameter(f"{trunc} is not a number; use e.g. 0.7", param_hint="--trunc")
    if abs(trunc) > MAX_PSI:
        raise click.BadParameter(
            f"{trunc:g} is out of range: use a value between -{MAX_PSI:g} and "
            f"{MAX_PSI:g} (0.5-1 is usual)",
            param_hint="--trunc",
        )

    from zizi.credentials.manifest import sealer
    from zizi.files import write_png
    from zizi.io.checkpoint import build_generator, load_checkpoint
    from zizi.render.batches import images_for_seeds
    from zizi.render.images import ThumbnailGrid
    from zizi.runtime import select_device

    creds = signing_credentials(credentials)
    ckpt = load_checkpoint(checkpoint, nets=[which])
    G = build_generator(ckpt, which)
    if G.c_dim > 0 and class_idx is None:
        raise click.UsageError(f"{checkpoint} is conditional ({G.c_dim} classes): pass --class N")
    if class_idx is not None and G.c_dim == 0:
        raise click.BadParameter(
            f"{checkpoint} is not conditional (it has no classes); leave out --class",
            param_hint="--class",
        )
    if class_idx is not None and class_idx >= G.c_dim:
        raise click.BadParameter(
            f"this checkpoint has {G.c_dim} classes (0-{G.c_dim - 1})", param_hint="--class"
        )
    if trunc != 1 and not hasattr(G.mapping, "w_avg"):
        raise click.BadParameter(
            f"{checkpoint} stores no average w, so it cannot truncate", param_hint="--trunc"
        )
    dev = select_device(device)
    from zizi.nets import precision as prec

    prec.check_supported(precision or "auto", dev)
    G = prec.set_precision(G, precision or "auto").to(dev)
    batch = batch or (8 if dev.type == "cuda" else 1)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ZiziError(f"cannot create the output folder {out}: {e.strerror or e}") from e

    from zizi.render import provenance

    config = {
        "command": "generate",
        "seeds": seeds,
        "trunc": trunc,
        "trunc_cutoff": trunc_cutoff,
        "noise_mode": noise_mode,
        "class": class_idx,
        "which": which,
    }
    if mixing:
        config.update(mix_rows=mix_rows, mix_cols=mix_cols, mix_styles=mix_styles)
    if latent is not None:
        config.update(latent=latent.name)
    doc = provenance.record(
        "image",
        [provenance.checkpoint_entry(checkpoint, ckpt.extra)],
        config,
        provenance.dataset_manifest_sha256(None, [ckpt.extra]),
    )
    text = provenance.png_text(doc)
    seal = sealer(doc, creds)
    if latent is not None:
        from zizi.latents import draw_latent, read_latent
        from zizi.render.batches import NOISE_SEED
        from zizi.render.images import to_uint8

        image = to_uint8(draw_latent(G, read_latent(latent), noise_mode, NOISE_SEED))[0]
        dest = write_png(out / f"{latent.stem}.png", image, text=text, seal=seal)
        click.echo(f"Wrote {dest}")
        if creds is None:
            click.echo(UNSIGNED_HINT, err=True)
        return
    if mixing:
        from zizi.render.mixing import mix_grid, style_mix

        rows, cols = parsed["--mix-rows"], parsed["--mix-cols"]
        try:
            images = style_mix(
                G,
                rows,
                cols,
                parsed["--mix-styles"],
                class_idx=class_idx,
                truncation_psi=trunc,
                truncation_cutoff=trunc_cutoff,
                noise_mode=noise_mode,
            )
        except ConfigError as e:
            raise click.BadParameter(str(e), param_hint="--mix-styles") from None
        for (r, c), a in images.items():
            if c is not None:
                write_png(out / f"mix{r:04d}-{c:04d}.png", a, text=text, seal=seal)
        write_png(out / "grid.png", mix_grid(images, rows, cols), text=text, seal=seal)
        click.echo(
            f"Wrote a {len(rows)}x{len(cols)} style-mixing grid to {out / 'grid.png'} "
            f"(row faces with ws {mix_styles} from the column faces) and "
            f"{plural(len(rows) * len(cols), 'image')} mixRRRR-CCCC.png"
        )
        if creds is None:
            click.echo(UNSIGNED_HINT, err=True)
        return
    thumbs = None
    with progress_bar(total=len(seed_list), desc="generate", unit="img", leave=False) as bar:
        for chunk, arr in images_for_seeds(
            G,
            seed_list,
            batch=batch,
            class_idx=class_idx,
            truncation_psi=trunc,
            truncation_cutoff=trunc_cutoff,
            noise_mode=noise_mode,
            progress=lambda done, total: bar.update(done - bar.n),
        ):
            for seed, a in zip(chunk, arr):
                write_png(out / f"seed{seed:04d}.png", a, text=text, seal=seal)
            if grid:
                if thumbs is None:
                    thumbs = ThumbnailGrid(len(seed_list), *arr.shape[1:])
                thumbs.add(arr)
    if thumbs is not None:
        write_png(out / "grid.png", thumbs.grid, text=text, seal=seal)
    click.echo(
        f"Wrote {plural(len(seed_list), 'image')} to {printable(out)}"
        + (" and grid.png" if grid else "")
    )
    if creds is None:
        click.echo(UNSIGNED_HINT, err=True)
