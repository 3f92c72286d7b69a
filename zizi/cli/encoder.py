"""`zizi encoder`: the learned inverter that lets `zizi mirror` reflect a face at video rates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from zizi.cli.options import CHECKPOINT, device_option


@click.group("encoder")
def encoder() -> None:
    """Train an image → W+ encoder for one generator (used by `zizi mirror --encoder`)."""


@encoder.command("train")
@click.argument("ckpt", metavar="CHECKPOINT", type=CHECKPOINT)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="The encoder file (.safetensors); its run folder (state, log, samples) is "
    "written beside it as <name>-run/.",
)
@click.option(
    "--kimg",
    type=click.FloatRange(min=0, min_open=True),
    default=20.0,
    show_default=True,
    help="Training length in thousands of generated images.",
)
@click.option(
    "--batch", type=click.IntRange(min=1), default=16, show_default=True, help="Images per step."
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    default=2e-3,
    show_default=True,
    help="Adam learning rate.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seeds the samples it trains on: the same seed gives the same encoder.",
)
@click.option(
    "--snap-kimg",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Rewrite the encoder and the resume state this often.",
)
@click.option(
    "--perceptual",
    type=click.Path(path_type=Path),
    multiple=True,
    help="Local VGG16 (+ LPIPS lin) weights for an LPIPS reconstruction loss, as "
    "`zizi mirror --perceptual`; default: the generator's own D + pixel + MS-SSIM.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run beside --out exactly where it stopped (--kimg may grow).",
)
@click.option("--force", is_flag=True, help="Start again over an existing encoder and run.")
@device_option
def train(
    ckpt: Path,
    out: Path,
    kimg: float,
    batch: int,
    lr: float,
    seed: int,
    snap_kimg: float,
    perceptual: tuple[Path, ...],
    resume: bool,
    force: bool,
    device: str,
) -> None:
    """Train an encoder for CHECKPOINT's generator on the generator's own samples (no dataset).

    Ctrl-C finishes the step and writes the encoder and its resume state; `--resume`
    continues exactly. The encoder records CHECKPOINT's sha256 and works with that model only.
    """
    from zizi.cli.train import TickProgress, _StopFlag
    from zizi.mirror.encoder_train import EncoderTrainConfig, prepare, run_dir, train_encoder
    from zizi.runtime import select_device

    cfg = EncoderTrainConfig(kimg=kimg, batch=batch, lr=lr, seed=seed, snap_kimg=snap_kimg)
    trainer, info = prepare(
        ckpt,
        out,
        cfg,
        select_device(device),
        perceptual=list(perceptual),
        resume=resume,
        force=force,
    )
    # a bar on a terminal, one line per tick elsewhere (a log, a pipe), as `zizi train`
    bar = TickProgress(main=True, fields=_tick_fields)

    stop = _StopFlag()
    stop.install()
    try:
        status = train_encoder(trainer, out, info, should_stop=stop, progress=bar.update)
    finally:
        stop.uninstall()
        bar.close()
    from zizi.text import printable

    where = printable(str(run_dir(out)))
    if status == "stopped":
        click.echo(
            f"stopped at kimg {trainer.kimg:.3f}; {printable(str(out))} is usable; "
            f"continue with --resume (run folder {where})"
        )
    else:
        click.echo(f"{printable(str(out))} (kimg {trainer.kimg:.3f}; run folder {where})")


def _tick_fields(e: dict[str, Any]) -> dict[str, str]:
    """What a tick shows of the encoder's training: speed and its two losses."""
    post = {}
    if e.get("sec_per_kimg"):
        post["s/kimg"] = f"{e['sec_per_kimg']:.1f}"
    for key, name in (("loss/w", "w"), ("loss/recon", "recon")):
        if key in e:
            post[name] = f"{e[key]:.3f}"
    return post
