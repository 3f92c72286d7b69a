"""`zizi mirror`: your reflection through the normative and the shifted network."""

from __future__ import annotations

from pathlib import Path

import click

from zizi.cli.options import (
    UNSIGNED_HINT,
    checkpoint_option,
    credentials_option,
    device_option,
    overwrite_option,
    photo_align_option,
    progress_bar,
    signing_credentials,
)


class _MirrorCommand(click.Command):
    """`zizi mirror PHOTO ...` reflects a photo; `zizi mirror serve ...` is the live mirror."""

    def make_context(self, info_name, args, parent=None, **extra):
        if args and args[0] == "serve":
            return serve.make_context(f"{info_name} serve", list(args[1:]), parent=parent, **extra)
        return super().make_context(info_name, args, parent=parent, **extra)


def _models(f):
    """--checkpoint and --shifted, as `zizi mirror` and `zizi mirror serve` both take them."""
    f = click.option(
        "--shifted",
        type=click.Path(path_type=Path),
        required=True,
        help="The shifted model: a checkpoint, or a run folder (its newest frame).",
    )(f)
    return checkpoint_option("The base (normative) face model, a zizi checkpoint.")(f)


@click.command(
    "mirror",
    cls=_MirrorCommand,
    epilog="The live mirror (a webcam page, encoder only): zizi mirror serve --help",
)
@click.argument("photo", type=click.Path(path_type=Path))
@_models
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for the renders: mirror.png (base | shifted), mirror.mp4 with --video.",
)
@click.option(
    "--steps",
    type=click.IntRange(min=0),
    default=500,
    show_default=True,
    help="Optimisation steps of the projection (0 with --encoder: its guess alone).",
)
@click.option(
    "--encoder",
    type=click.Path(path_type=Path),
    default=None,
    help="An encoder for --checkpoint (`zizi encoder train`): start from its guess; "
    "then far fewer --steps are needed.",
)
@click.option(
    "--space",
    type=click.Choice(["w", "w+"]),
    default=None,
    help="w: one latent for all layers (closer to what the model draws); "
    "w+: one per layer (closer to the photo). Default: w, or w+ with --encoder "
    "(whose guess is one per layer).",
)
@photo_align_option
@click.option(
    "--video",
    is_flag=True,
    help="Also render the reflection through every frame between base and shifted "
    "(a run folder's frames) as mirror.mp4.",
)
@click.option(
    "--frames",
    type=click.IntRange(min=2),
    default=120,
    show_default=True,
    help="Length of the --video clip in frames (30 per second).",
)
@click.option(
    "--size",
    type=click.IntRange(min=8, max=4096),
    default=None,
    help="Side of each face in mirror.png in pixels (Lanczos) [default: the model's "
    "resolution; a 32² model's faces are tiny without it].",
)
@click.option(
    "--keep-latent",
    is_flag=True,
    help="Also write the projected latent (latent.safetensors). Off by default.",
)
@click.option(
    "--perceptual",
    type=click.Path(path_type=Path),
    multiple=True,
    help="Local VGG16 weights (a state dict, torchvision key names; repeat the option "
    "to add LPIPS's lin weights file) for an LPIPS loss; "
    "never downloaded. Without it the loss uses the base model's own "
    "discriminator plus pixel and multi-scale SSIM terms.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seeds the search: the same photo and seed give the same reflection.",
)
@credentials_option
@overwrite_option
@device_option
def mirror(
    photo: Path,
    ckpt: Path,
    shifted: Path,
    out: Path,
    steps: int,
    encoder: Path | None,
    space: str | None,
    align: str,
    video: bool,
    frames: int,
    size: int | None,
    keep_latent: bool,
    perceptual: tuple[Path, ...],
    seed: int,
    credentials: Path | None,
    force: bool,
    device: str,
) -> None:
    """Find the face in PHOTO in the base model's latent space and show how the base model
    and the shifted model each draw it back, side by side (after Narcissus).

    \b
    Privacy: the photo, the aligned crop of your face and the latent found for it are
    kept in memory only and are gone when the command ends. Only the rendered
    reflections are written to --out. Nothing is uploaded. --keep-latent also writes the
    latent; the photo and the crop are never written.
    """
    from zizi.mirror.project import ProjectConfig
    from zizi.mirror.reflect import MirrorConfig
    from zizi.mirror.reflect import mirror as run_mirror
    from zizi.runtime import select_device

    creds = signing_credentials(credentials)  # unusable keys fail before minutes of projection
    space = space or ("w+" if encoder is not None else "w")
    cfg = MirrorConfig(
        project=ProjectConfig(steps=steps, space=space, seed=seed),
        align=align,
        video=video,
        frames=frames,
        keep_latent=keep_latent,
        size=size,
    )
    bars: dict[str, object] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            unit = "step" if stage == "project" else "frame"
            bar = bars[stage] = progress_bar(total=total, desc=stage, unit=unit, leave=False)
        bar.update(done - bar.n)

    try:
        written = run_mirror(
            photo,
            ckpt,
            shifted,
            out,
            cfg,
            select_device(device),
            perceptual=list(perceptual),
            encoder=encoder,
            force=force,
            progress=progress,
            credentials=creds,
        )
    finally:
        for bar in bars.values():
            bar.close()
    from zizi.text import printable

    for p in written:
        click.echo(printable(str(p)))
    if creds is None:
        click.echo(UNSIGNED_HINT, err=True)


@click.command("serve")
@_models
@click.option(
    "--encoder",
    type=click.Path(path_type=Path),
    required=True,
    help="The base model's encoder (`zizi encoder train`).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. The default is this machine only; 0.0.0.0 lets "
    "every machine on the network open the page and send frames.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port (0: any free one, printed).",
)
@click.option(
    "--align",
    type=click.Choice(["face", "center"]),
    default="face",
    show_default=True,
    help="face: FFHQ alignment (falls back to the centre when no face is found); "
    "center: always the centred square.",
)
@click.option(
    "--max-clients",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Pages served at once; more are told the mirror is full.",
)
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM certificate: serve https, which browsers on other machines need "
    "before they allow the camera.",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM private key of --tls-cert.",
)
@device_option
def serve(
    ckpt: Path,
    shifted: Path,
    encoder: Path,
    host: str,
    port: int,
    align: str,
    max_clients: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    device: str,
) -> None:
    """The live mirror: a web page that reflects the visitor's camera through the base and
    the shifted model, frame by frame (open it in a browser; ?kiosk=1 for a gallery screen).

    \b
    Keeps nothing: frames, face crops and latents live in memory for one reflection and
    are never written, logged or hashed; /health reports counters only. Ctrl-C stops.
    """
    import asyncio

    from zizi.mirror.live import Reflector
    from zizi.mirror.page import render_page
    from zizi.mirror.serve import ServeConfig, make_app
    from zizi.mirror.serve import serve as run_server
    from zizi.runtime import select_device
    from zizi.text import printable

    try:
        import aiohttp  # noqa: F401
    except ImportError:
        raise click.ClickException(
            "the live mirror needs the serve extra: pip install 'zizi[serve]' (aiohttp)"
        ) from None
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("give --tls-cert and --tls-key together")
    ssl_context = None
    if tls_cert is not None:
        import ssl

        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ssl_context.load_cert_chain(str(tls_cert), str(tls_key))
        except (ssl.SSLError, OSError) as e:
            raise click.UsageError(f"cannot use --tls-cert/--tls-key: {e}") from None
    reflector = Reflector(ckpt, shifted, encoder, select_device(device), align)
    page = render_page(reflector.resolution, reflector.base_name, reflector.shifted_name)
    cfg = ServeConfig(host=host, port=port, max_clients=max_clients)
    hello = {"resolution": reflector.resolution, "align": reflector.align_note}
    app = make_app(reflector.reflect, page, hello, cfg)

    def ready(url: str) -> None:
        click.echo(f"zizi mirror: {printable(url)}  (kiosk: {printable(url)}?kiosk=1)", err=False)
        click.echo(f"framing: {reflector.align_note}; nothing is stored; Ctrl-C stops")
        if host not in ("127.0.0.1", "localhost", "::1"):
            click.echo(
                f"warning: listening on {host}: anyone who can reach this machine can "
                "open the page and send frames",
                err=True,
            )

    try:
        asyncio.run(run_server(app, cfg, ssl_context, ready))
    except KeyboardInterrupt:
        pass
