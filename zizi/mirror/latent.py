"""The standalone projector: a photo's face in, a latent file out.

The file's format (ws and fitted noise maps) has one owner, `zizi.latents`; `zizi mirror
--keep-latent` writes the same file, `zizi generate --latent` and `zizi render walk
--keyframe-latent` read it.

Privacy as in the mirror: the photo and its aligned crop live in memory only; the latent
is the one file written, because the person asked for it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zizi.errors import ZiziError
from zizi.mirror.photo import AlignChoice
from zizi.mirror.project import ProjectConfig

if TYPE_CHECKING:
    import torch


VIDEO_STATEMENT = (
    "A projection's progress, drawn by zizi project: on the left the photographed "
    "face it was asked to find (written here only because the person asked "
    "for this video), on the right a generative neural network's (StyleGAN2) "
    "search for it, one frame per step; the photo itself was not kept."
)


def project_photo(
    photo: str | Path,
    ckpt: str | Path,
    out: str | Path,
    cfg: ProjectConfig,
    device: torch.device,
    *,
    align: AlignChoice = "face",
    perceptual: list[str | Path] | None = None,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    video: str | Path | None = None,
    video_size: int | None = None,
    video_fps: float = 30.0,
) -> list[Path]:
    """Project the face in `photo` into `ckpt` and write the latent to `out`, and, only when
    asked, the search as a video (`video`: target | current, one frame per step, then the
    result as `zizi generate --latent` draws it). Returns the files written."""
    from zizi.files import write_bytes
    from zizi.io.checkpoint import build_generator, load_checkpoint
    from zizi.latents import latent_bytes
    from zizi.mirror.losses import distance_for
    from zizi.mirror.photo import frame, load_photo, to_tensor
    from zizi.mirror.project import project
    from zizi.render import provenance

    ckpt, out = Path(ckpt), Path(out)
    if out.suffix != ".safetensors":
        raise ZiziError(f"--out {out} must end in .safetensors")
    if out.exists() and not force:
        raise ZiziError(f"{out} already exists; pass --force to overwrite it")
    if video is not None:
        video = Path(video)
        if video.suffix and video.suffix.lower() not in (".mp4", ".mov"):
            raise ZiziError(
                f"--video {video}: name an .mp4 (H.264) or .mov (ProRes) file, or "
                "a folder for a PNG sequence"
            )
        if video.exists() and not force:
            raise ZiziError(f"{video} already exists; pass --force to overwrite it")
        if video_size is not None and (video_size % 2 or video_size < 8):
            raise ZiziError(f"--video-size {video_size}: give an even number of pixels, at least 8")
    if not ckpt.is_file():
        raise ZiziError(f"--checkpoint {ckpt} not found (give a checkpoint file)")
    image = load_photo(photo)  # in memory only, like everything derived from it below
    G = build_generator(load_checkpoint(ckpt, nets=["G_ema"]), "G_ema").to(device)
    if G.img_channels != 3:
        raise ZiziError(f"the model draws {G.img_channels}-channel images; projection needs RGB")
    target = to_tensor(frame(image, G.img_resolution, align)).to(device)  # [1, 3, R, R]
    del image
    distance, loss_kind = distance_for(ckpt, target, [Path(p) for p in perceptual or []], device)
    sha = provenance.checkpoint_entry(ckpt)["sha256"]
    if video is None:
        cb = None if progress is None else (lambda i, n, _loss: progress(i, n))
        proj = project(G, target, distance, cfg, progress=cb)
        written = []
    else:
        proj = _project_on_video(
            G, target, distance, cfg, video, video_size, video_fps, ckpt, loss_kind, force, progress
        )
        written = [video]
    del target, distance
    return [write_bytes(out, latent_bytes(proj, cfg.space, sha)), *written]


def _project_on_video(
    G,
    target: torch.Tensor,
    distance,
    cfg: ProjectConfig,
    video: Path,
    size: int | None,
    fps: float,
    ckpt: Path,
    loss_kind: str,
    force: bool,
    progress: Callable[[int, int], None] | None,
):
    """Run the projection while render's job machinery encodes it: frame k (k < steps) is
    the target beside the image step k+1 measured (the search's w noise included, as it
    looked), the last frame the target beside the result with its fitted noise maps.
    Frames are made as the search runs and encoded at once; none is kept in memory."""
    import shutil
    from dataclasses import asdict

    import numpy as np

    from zizi.latents import Latent, draw_latent
    from zizi.mirror.project import projection_steps
    from zizi.mirror.reflect import _resized
    from zizi.render import job, provenance
    from zizi.render.encode import work_dir
    from zizi.render.images import to_uint8

    res = G.img_resolution
    side = size or res
    left = _resized(to_uint8(target)[0], side)
    count = cfg.steps + 1
    result: list[Any] = []
    started: list[bool] = []

    def frames(start: int, stop: int):
        started.append(True)
        if start != 0:  # one segment, never resumed: the search is not addressable by frame
            raise ZiziError("a projection video is made in one go")
        steps = projection_steps(G, target, distance, cfg)
        while True:
            try:
                step, _loss, img = next(steps)
            except StopIteration as done:
                result.append(done.value)
                break
            yield [np.concatenate([left, _resized(to_uint8(img)[0], side)], axis=1)]
            if progress is not None:
                progress(step, cfg.steps)
        proj = result[0]
        drawn = draw_latent(
            G, Latent(ws=proj.ws, noise=proj.noise, space=cfg.space, checkpoint_sha256="")
        )
        yield [np.concatenate([left, _resized(to_uint8(drawn)[0], side)], axis=1)]

    config = {
        "command": "project --video",
        **asdict(cfg),
        "loss": loss_kind,
        "frames": count,
        "size": side,
    }
    record = provenance.record("video", [provenance.checkpoint_entry(ckpt)], config)
    record["statement"] = VIDEO_STATEMENT
    plan = {"command": "project --video", "frames": count, "fps": fps}
    work = work_dir(video)
    if work.is_dir() and not force:
        raise ZiziError(
            f"an unfinished projection video is in {work} (a run that was stopped); "
            "pass --force to replace it"
        )
    try:
        job.run(
            [job.Output(video, record)],
            frames,
            count=count,
            fps=fps,
            size=(2 * side, side),
            plan=plan,
            segment_frames=count,
            force=force,
        )
    except BaseException:
        if started:  # its frames show the photo: nothing of a failed video is left behind
            shutil.rmtree(work, ignore_errors=True)
        raise
    return result[0]
