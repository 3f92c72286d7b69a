"""The embedded demo: data → base model → fine-tune → weight-shift video → report.

A newcomer sees the whole idea work without downloading anything. Every stage runs a
real zizi command (`zizi dataset prepare`, `zizi train`, `zizi generate`, `zizi render
shift`), given as an argument list to a `runner` that the CLI supplies, so the report can
list the exact commands a person would type to do the same by hand. The pipeline itself
only draws the portraits (`zizi.demo.portraits`), writes the configs it passes, and
measures the shift with the sliced Wasserstein distance of `zizi.metrics`.

The base model stands in for the FFHQ checkpoint. Training one that draws heads, hair and
faces takes about 60 kimg in two runs (≈ 40 min or more on a 2-core CPU), so on the
CPU the demo starts from a small checkpoint this module ships (`base-32.safetensors`,
trained by `zizi demo --train-base`, see `BASE_RECIPE`); on a GPU it trains its own.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zizi.errors import ZiziError
from zizi.io.runs import LATEST

if TYPE_CHECKING:
    from zizi.credentials.keys import Credentials

Runner = Callable[[list[str]], None]  # runs one zizi command line, e.g. ["train", "--data", ...]
Note = Callable[[str], None]  # a line of progress for the person watching

SHIPPED_BASE = Path(__file__).resolve().parent / "base-32.safetensors"
# The live mirror's encoder for the shipped base (1.5 MB; how it was made: docs/mirror.md).
SHIPPED_ENCODER = SHIPPED_BASE.with_name("base-32-encoder.safetensors")
MARKER = ".zizi-demo"  # marks a folder this command made, so a re-run may replace it
# The shipped base draws its portraits from the styles alone (its noise strengths are below
# 1e-3); the fine-tune raises a 32² layer's (to ~0.09), which speckles the faces, so the
# demo shows and measures the noise-free output of both.
NOISE_MODE = "none"

# The network both the base and the fine-tune use: configs/nets/tiny.yaml's shape.
NET = {
    "z_dim": 32,
    "w_dim": 32,
    "img_resolution": 32,
    "channel_base": 1024,
    "channel_max": 64,  # 64 channels at 4²–16², 32 at 32²
    "mapping": {"num_layers": 2},
}


class DemoError(ZiziError):
    """The demo cannot run (an --out that isn't a demo folder, a missing base checkpoint)."""


@dataclass(frozen=True)
class DemoPlan:
    """Sizes and lengths of one demo run (data, training, video, measurement)."""

    seed: int = 0  # draws the portraits and seeds training: the same demo every time
    base_images: int = 256  # base portraits drawn (trained on only with train_base)
    shift_images: int = 500  # shift portraits drawn; x-flipped in training, so 1000
    draw_size: int = 64  # portraits are drawn at this side, then prepared (Lanczos) to 32
    resolution: int = 32  # the network's side: what 2 CPU cores can train in minutes
    train_base: bool = False  # train the base model here instead of loading the shipped one
    base_kimg: float = 20.0  # base model length when trained here: head shapes by ~15 kimg
    base_batch: int = 32  # minibatch of the base run
    # A second base run continuing the first: a smaller batch gives twice the steps per kimg
    # and a short G_ema half-life follows G; this is where eyes and mouths appear at 32².
    base_more_kimg: float = 0.0  # its length (0: no second run)
    base_more_batch: int = 16
    base_more_ema_kimg: float = 2.5
    finetune_kimg: float = 4.0  # colours move in 1–2 kimg, wigs by ~4; 6 adds little (RESULTS.md)
    batch: int = 16  # minibatch of both runs
    frame_kimg: float = 0.25  # a light frame this often: the video's keyframes
    ema_kimg: float = 0.5  # G_ema half-life of the fine-tune: short, so it follows G within the run
    # The fine-tune keeps the base's layout: its mapping network and the synthesis blocks
    # below this side stay frozen (`freeze.mapping`, `freeze.g_below_res`), so heads and
    # shoulders stay where the base drew them and the 16² and 32² blocks learn wigs, colours
    # and stage light. Trained whole, the 32² net melts the heads into neon swirls by 4 kimg
    # (benchmarks/RESULTS.md, "The demo's fine-tune"). 0 trains every block.
    freeze_g_below: int = 16
    video_seconds: float = 10.0
    fps: int = 24
    grid: tuple[int, int] = (4, 3)  # faces per video frame (4 wide, 3 high)
    face_px: int = 96  # each 32² face is shown at this size in the video
    measure_num: int = 256  # generated and real images per shift measurement

    @property
    def faces(self) -> int:
        return self.grid[0] * self.grid[1]


def plan_for(quick: bool, device_type: str) -> DemoPlan:
    """The full CPU demo (≤ 10 min on 2 cores), --quick (about a minute), or bigger on a GPU."""
    if quick:
        return DemoPlan(
            base_images=32,
            shift_images=96,
            base_kimg=0.2,
            base_batch=8,
            base_more_kimg=0.1,
            base_more_batch=8,
            finetune_kimg=0.4,
            batch=8,
            frame_kimg=0.1,
            video_seconds=2.0,
            fps=12,
            grid=(2, 2),
            face_px=64,
            measure_num=64,
        )
    if device_type == "cuda":  # estimates: not yet measured on a GPU
        return DemoPlan(
            base_images=2000,
            shift_images=1000,
            train_base=True,
            base_kimg=120.0,
            finetune_kimg=20.0,
            batch=32,
            frame_kimg=0.5,
            ema_kimg=1.0,
            video_seconds=20.0,
            fps=30,
            grid=(6, 4),
            face_px=128,
            measure_num=1000,
        )
    return DemoPlan()


# How the shipped base checkpoint was made (also what `--train-base` runs): the base set
# drawn with seed 0, prepared to 32², trained from scratch with these settings on this
# project's shared 2-core CPU (2 threads, load ~3): 12 kimg at batch 32 on the first 1000
# portraits, then 48 kimg at batch 16 with a 2.5-kimg G_ema half-life on all 2000 (the
# shipped file ran those 48 as 18, then 30 more by `zizi train --resume` of that run with
# the same config, seed 2: ~35 s/kimg, about 40 min in all). SWD to the base set 152 at
# 6 kimg -> 31.5 at 60 (the 16-channel net before it: 28.3 to its own, plainer set, 31.7 to this
# one); about half the faces draw a mouth and some eyes, 6 Dec 2026.
BASE_RECIPE: dict[str, Any] = dict(
    base_images=2000, base_kimg=12.0, base_batch=32, base_more_kimg=48.0
)


def base_more_config(plan: DemoPlan) -> dict[str, Any]:
    """configs/train-base-more.yaml: the second base run, resumed from the first."""
    return {
        "kimg": plan.base_more_kimg,
        "batch": plan.base_more_batch,
        "snap_kimg": 2.0,
        "frame_kimg": 2.0,
        "tick_kimg": 0.5,
        "keep_snapshots": 2,
        "sample_seeds": 16,
        "seed": plan.seed + 1,
        "name": "demo-base-more",
        "loss": {"r1_gamma": 0.1, "pl_weight": 0.0},
        "ema": {"kimg": plan.base_more_ema_kimg},  # short: G_ema follows G within the run
        "data": {"workers": 0},
    }


def base_train_config(plan: DemoPlan) -> dict[str, Any]:
    """configs/train-base.yaml: training from scratch on the plain portraits."""
    return {
        "kimg": plan.base_kimg,
        "batch": plan.base_batch,
        "snap_kimg": 2.0,
        "frame_kimg": 1.0,
        "tick_kimg": 0.5,
        "keep_snapshots": 2,
        "sample_seeds": 16,
        "seed": plan.seed,
        "name": "demo-base",
        "loss": {
            "r1_gamma": 0.1,  # R1 grows with resolution²: 32² needs little
            "pl_weight": 0.0,
        },  # path-length reg off: a third cheaper, small nets do fine
        "ema": {"rampup": 0.05},  # from scratch: G_ema starts short, as in the ADA tools
        "data": {"workers": 0},  # decoding 32² PNGs in-process beats worker start-up
    }


def finetune_config(plan: DemoPlan) -> dict[str, Any]:
    """configs/finetune.yaml: the shift, with a light frame every `frame_kimg`."""
    return {
        "kimg": plan.finetune_kimg,
        "batch": plan.batch,
        "snap_kimg": max(plan.finetune_kimg / 2, plan.frame_kimg),
        "frame_kimg": plan.frame_kimg,
        "tick_kimg": plan.frame_kimg,
        "keep_snapshots": 1,
        "sample_seeds": plan.faces,
        "seed": plan.seed,
        "name": "demo-shift",
        "loss": {"r1_gamma": 0.1, "pl_weight": 0.0},
        "ema": {"kimg": plan.ema_kimg},
        "freeze": {"mapping": plan.freeze_g_below > 0, "g_below_res": plan.freeze_g_below},
        "data": {"workers": 0},
    }


@dataclass
class Stage:
    name: str
    seconds: float = 0.0
    commands: list[list[str]] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class DemoReport:
    out: Path
    device: str
    plan: DemoPlan
    stages: list[Stage]
    shift: dict[str, float]  # SWD (×10³) to the shift set: base samples, fine-tuned samples
    video: Path
    frame: Path
    mirror: str = ""  # the command that opens the live mirror on these models

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.stages)

    def to_json(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "device": self.device,
            "seconds": round(self.seconds, 1),
            "plan": {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self.plan).items()
            },
            "stages": [
                {
                    "name": s.name,
                    "seconds": round(s.seconds, 1),
                    "outputs": s.outputs,
                    "commands": [" ".join(["zizi", *c]) for c in s.commands],
                }
                for s in self.stages
            ],
            "shift": self.shift,
            "video": str(self.video),
            "frame": str(self.frame),
            "mirror": self.mirror,
        }

    def lines(self) -> list[str]:
        """The report as a person reads it."""
        out = [
            f"zizi demo: done in {self.seconds:.0f} s on {self.device}; everything is in {self.out}"
        ]
        for s in self.stages:
            out.append(
                f"  {s.name:<10} {s.seconds:6.1f} s  "
                + ", ".join(f"{k}: {v}" for k, v in s.outputs.items())
            )
        b, f = self.shift["base_to_shift_set"], self.shift["finetuned_to_shift_set"]
        out.append(
            f"  shift: SWD to the shift set {b:.1f} from the base model -> {f:.1f} after "
            f"the fine-tune ({100 * (1 - f / b):.0f}% closer; base model to its own set "
            f"{self.shift['base_to_base_set']:.1f})"
        )
        out.append(f"  video: {self.video}   (a frame: {self.frame})")
        out.append(f"  the commands each stage ran, to do it by hand: {self.out / 'report.json'}")
        if self.mirror:
            out.append(f"  your reflection, live from your webcam: {self.mirror}")
        return out


def mirror_command(base: Path, run: Path) -> str:
    """`zizi mirror serve` on the demo's models: with the shipped encoder when the base is
    the shipped one, else after training an encoder for the base trained here."""
    serve = f"zizi mirror serve --checkpoint {base} --shifted {run} --encoder "
    if Path(base).resolve() == SHIPPED_BASE and SHIPPED_ENCODER.is_file():
        return serve + str(SHIPPED_ENCODER)
    enc = Path(run).parent.parent / "encoder.safetensors"
    return f"zizi encoder train {base} --out {enc} && " + serve + str(enc)


def check_out(out: Path) -> None:
    """Refuse an --out that holds anything but an earlier demo; replace an earlier demo."""
    out = Path(out)
    if not out.exists():
        return
    if not out.is_dir():
        raise DemoError(f"{out} is a file; give --out a folder")
    from zizi.files import check_replaceable, protected_folder

    if protected_folder(out):
        raise DemoError(
            f"refusing to use {out} as the demo folder ({protected_folder(out)}); "
            "give a folder of its own, e.g. --out renders/demo"
        )
    if not any(out.iterdir()):
        return
    if not (out / MARKER).is_file():
        raise DemoError(f"{out} is not empty and not an earlier zizi demo; choose another --out")
    check_replaceable(out, lambda p: (p / MARKER).is_file(), what="zizi demo", error=DemoError)
    shutil.rmtree(out)  # an earlier demo: this run replaces all of it


def run_demo(
    out: Path,
    plan: DemoPlan,
    runner: Runner,
    *,
    device: str = "auto",
    note: Note | None = None,
    credentials: Credentials | None = None,
) -> DemoReport:
    """Run the five stages into `out` and return the report (also written as report.json).

    The runner's render and generate commands sign their own outputs; `credentials` sign
    the still taken from the video here (C2PA), as its video's record describes it.
    """
    from zizi.files import write_json, write_text
    from zizi.runtime import select_device

    say = note or (lambda text: None)
    dev = select_device(device)
    out = Path(out)
    check_out(out)
    write_text(out / MARKER, "made by `zizi demo`; a re-run replaces this folder\n")
    stages: list[Stage] = []

    st = Stage("data")
    t0 = time.perf_counter()
    say(f"1/5 data: drawing {plan.base_images} base and {plan.shift_images} shift portraits")
    sets = _data(out, plan, runner, st, say)
    st.seconds = time.perf_counter() - t0
    stages.append(st)

    st = Stage("base")
    t0 = time.perf_counter()
    if plan.train_base:
        more = f", then {plan.base_more_kimg:g} more" if plan.base_more_kimg > 0 else ""
        say(f"2/5 base model: training from scratch for {plan.base_kimg:g} kimg{more}")
        base = _train_base(out, plan, runner, sets["base"], st, device)
    else:
        if not SHIPPED_BASE.is_file():
            raise DemoError(
                f"the shipped base checkpoint {SHIPPED_BASE} is missing; "
                "run `zizi demo --train-base` to train one"
            )
        say(
            f"2/5 base model: the shipped {SHIPPED_BASE.name} (trained by `zizi demo --train-base`)"
        )
        base = SHIPPED_BASE
        st.outputs["checkpoint"] = str(base)
    _grid(runner, base, plan, out / "samples" / "2-base-model", device, st)
    st.seconds = time.perf_counter() - t0
    stages.append(st)

    st = Stage("fine-tune")
    t0 = time.perf_counter()
    say(
        f"3/5 fine-tune: {plan.finetune_kimg:g} kimg on the shift set, "
        f"a frame every {plan.frame_kimg:g} kimg"
    )
    config = _yaml(out / "configs" / "finetune.yaml", finetune_config(plan))
    run = _new_run(
        out / "runs",
        runner,
        [
            "train",
            "--data",
            str(sets["shift"]),
            "--resume",
            str(base),
            "--out",
            str(out / "runs"),
            "--config",
            str(config),
            "--device",
            device,
        ],
        st,
    )
    final = run / LATEST
    _grid(runner, final, plan, out / "samples" / "3-finetuned", device, st)
    st.outputs["run"] = str(run)
    st.seconds = time.perf_counter() - t0
    stages.append(st)

    st = Stage("video")
    t0 = time.perf_counter()
    video = out / "weight-shift.mp4"
    say(
        f"4/5 video: {plan.video_seconds:g} s of the weights shifting, "
        f"{plan.grid[0]}x{plan.grid[1]} faces, looped"
    )
    cmd = [
        "render",
        "shift",
        str(run),
        "--out",
        str(video),
        "--grid",
        f"{plan.grid[0]}x{plan.grid[1]}",
        "--loop",
        "--seconds",
        f"{plan.video_seconds:g}s",
        "--fps",
        str(plan.fps),
        "--size",
        str(plan.face_px),
        "--batch",
        str(plan.faces),
        "--noise-mode",
        NOISE_MODE,
        "--force",
        "--device",
        device,
    ]
    st.commands.append(cmd)
    runner(cmd)
    frame = _video_frame(video, out / "samples" / "4-video-frame.png", credentials)
    st.outputs.update(video=str(video), frame=str(frame))
    st.seconds = time.perf_counter() - t0
    stages.append(st)

    st = Stage("report")
    t0 = time.perf_counter()
    say("5/5 report: measuring the shift (sliced Wasserstein distance of samples to each set)")
    shift = measure_shift(run, sets["shift"], sets["base"], plan.measure_num, plan.seed, dev)
    st.seconds = time.perf_counter() - t0
    stages.append(st)
    report = DemoReport(
        out=out,
        device=str(dev),
        plan=plan,
        stages=stages,
        shift=shift,
        video=video,
        frame=frame,
        mirror=mirror_command(base, run),
    )
    write_json(out / "report.json", report.to_json())
    return report


def _data(out: Path, plan: DemoPlan, runner: Runner, st: Stage, say: Note) -> dict[str, Path]:
    from zizi.demo.portraits import contact_sheet, write_credits, write_set
    from zizi.files import write_png

    data = out / "data"
    sets = {}
    for kind, count in (("base", plan.base_images), ("shift", plan.shift_images)):
        src = data / f"{kind}-drawn"
        paths = write_set(src, kind, count, seed=plan.seed, size=plan.draw_size)
        credits = write_credits(data / f"{kind}-credits.csv", paths, plan.seed)
        cmd = [
            "dataset",
            "prepare",
            str(src),
            "--out",
            str(data / kind),
            "--resolution",
            str(plan.resolution),
            "--credits",
            str(credits),
            "--workers",
            "1",
        ]
        st.commands.append(cmd)
        runner(cmd)
        sets[kind] = data / kind
        sheet = write_png(
            out / "samples" / f"1-{kind}-set.png",
            contact_sheet(kind, plan.seed, n=min(32, count), size=plan.draw_size, cols=8),
        )
        st.outputs[f"{kind} set"] = str(data / kind)
        st.outputs[f"{kind} sheet"] = str(sheet)
    return sets


def _train_base(
    out: Path, plan: DemoPlan, runner: Runner, data: Path, st: Stage, device: str
) -> Path:
    net = _yaml(out / "configs" / "base-net.yaml", NET)
    config = _yaml(out / "configs" / "train-base.yaml", base_train_config(plan))
    run = _new_run(
        out / "runs",
        runner,
        [
            "train",
            "--data",
            str(data),
            "--net",
            str(net),
            "--out",
            str(out / "runs"),
            "--config",
            str(config),
            "--device",
            device,
        ],
        st,
    )
    st.outputs["run"] = str(run)
    if plan.base_more_kimg > 0:
        more = _yaml(out / "configs" / "train-base-more.yaml", base_more_config(plan))
        run = _new_run(
            out / "runs",
            runner,
            [
                "train",
                "--data",
                str(data),
                "--resume",
                str(run / LATEST),
                "--out",
                str(out / "runs"),
                "--config",
                str(more),
                "--device",
                device,
            ],
            st,
        )
        st.outputs["run (continued)"] = str(run)
    return export_base(run / LATEST, out / "base-32.safetensors", plan)


def export_base(snapshot: Path, dest: Path, plan: DemoPlan) -> Path:
    """A full snapshot without its optimiser and RNG state: G_ema, G and D (≈ 2 MB)."""
    from zizi.io.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(snapshot, nets=["G_ema", "G", "D"])
    ckpt.train = None
    ckpt.state = {}
    ckpt.provenance = dict(
        ckpt.provenance,
        demo={
            "what": "zizi demo base model: StyleGAN2 at 32² trained from scratch on "
            "procedural portraits",
            "regenerate": "zizi demo --train-base --out renders/demo-base "
            "(then copy renders/demo-base/base-32.safetensors to zizi/demo/)",
            "plan": {
                k: v
                for k, v in dataclasses.asdict(plan).items()
                if k
                in (
                    "seed",
                    "base_images",
                    "draw_size",
                    "resolution",
                    "base_kimg",
                    "base_batch",
                    "base_more_kimg",
                    "base_more_batch",
                    "base_more_ema_kimg",
                )
            },
        },
    )
    return save_checkpoint(dest, ckpt)


def _yaml(path: Path, data: dict[str, Any]) -> Path:
    import yaml

    from zizi.files import write_text

    return write_text(path, yaml.safe_dump(data, sort_keys=False))


def _new_run(runs: Path, runner: Runner, cmd: list[str], st: Stage) -> Path:
    """Run `zizi train` and return the run folder it made."""
    before = set(runs.iterdir()) if runs.is_dir() else set()
    st.commands.append(cmd)
    runner(cmd)
    made = (
        sorted(p for p in runs.iterdir() if p.is_dir() and p not in before) if runs.is_dir() else []
    )
    if len(made) != 1 or not (made[0] / LATEST).is_file():
        raise DemoError(f"`zizi {' '.join(cmd[:1])}` left no finished run in {runs}")
    return made[0]


def _grid(runner: Runner, ckpt: Path, plan: DemoPlan, folder: Path, device: str, st: Stage) -> None:
    cmd = [
        "generate",
        str(ckpt),
        "--seeds",
        f"0-{plan.faces - 1}",
        "--grid",
        "--out",
        str(folder),
        "--noise-mode",
        NOISE_MODE,
        "--device",
        device,
    ]
    st.commands.append(cmd)
    runner(cmd)
    st.outputs["samples"] = str(folder / "grid.png")


def _video_frame(video: Path, dest: Path, credentials: Credentials | None = None) -> Path:
    """The video's middle frame as a PNG (also proves the MP4 decodes), with the video's
    provenance record (and signed, with credentials)."""
    import imageio

    from zizi.credentials.manifest import sealer
    from zizi.files import write_png
    from zizi.render import provenance
    from zizi.render.job import sidecar_path

    try:
        record = json.loads(sidecar_path(video).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = None

    try:
        reader = imageio.get_reader(str(video), "ffmpeg")
        count = reader.count_frames()
        frames = reader.get_data(count // 2)
        reader.close()
    except Exception as e:  # noqa: BLE001 - any decoder failure means the video is unusable
        raise DemoError(f"could not read back {video}: {e}") from e
    if record is None:
        return write_png(dest, frames)
    record = {
        **record,
        "kind": "image",
        "config": {**record.get("config", {}), "still_of": video.name},
    }
    return write_png(
        dest, frames, text=provenance.png_text(record), seal=sealer(record, credentials)
    )


def measure_shift(
    run: Path, shift_set: Path, base_set: Path, num: int, seed: int, device: Any
) -> dict[str, float]:
    """SWD (×10³, PGGAN's) of base-model and fine-tuned samples to the shift and base sets.

    The base model is the run's first frame (kimg 0), the fine-tuned model its last; each
    draws `num` samples from the same seeded latents, and each set gives `num` real images.
    """

    from zizi.data.dataset import ImageDataset
    from zizi.io.checkpoint import build_generator, load_checkpoint
    from zizi.metrics.features import dataset_images
    from zizi.metrics.shift import list_frames
    from zizi.metrics.swd import descriptors_of, swd

    frames = list_frames(run)
    real = {
        name: descriptors_of(dataset_images(ImageDataset(path), num), seed=seed)
        for name, path in (("shift_set", shift_set), ("base_set", base_set))
    }
    result: dict[str, float] = {}
    for label, (_, path) in (("base", frames[0]), ("finetuned", frames[-1])):
        G = build_generator(load_checkpoint(path, nets=["G_ema"]), "G_ema").to(device)
        fake = descriptors_of(_samples(G, num, seed, device), seed=seed + 1)
        for name, desc in real.items():
            result[f"{label}_to_{name}"] = swd(fake, desc, seed=seed)["swd"]
    result["num"] = num
    return result


def _samples(G: Any, num: int, seed: int, device: Any, batch: int = 32):
    """`num` uint8 [B, 3, H, W] samples from seeded z, without noise (as the demo shows them)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    for start in range(0, num, batch):
        z = torch.randn(min(batch, num - start), G.z_dim, generator=gen).to(device)
        with torch.no_grad():
            img = G(z, noise_mode=NOISE_MODE)
        yield (img * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu()
