"""The Trainer: networks, optimisers, random generators and progress of one training run.

It is what a snapshot holds. `snapshot()` turns it into a full checkpoint (G, G_ema, D,
both Adam states, RNG states, images seen, data position, ADA p, path-length mean, the
resolved config); `restore()` puts a snapshot back so training continues bit-identically.
"""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import torch

from zizi.errors import CheckpointError, ConfigError
from zizi.io.checkpoint import Checkpoint
from zizi.nets import precision as prec
from zizi.train.config import TrainConfig, to_dict
from zizi.train.distributed import Dist, gather_objects
from zizi.train.optim import load_optimizer_tensors, make_adam, optimizer_tensors, trainable


def rank_seed(seed: int, rank: int) -> int:
    """Each process draws its own latents and noise: seed and rank mixed, never equal."""
    return (seed * 7919 + rank) % (1 << 63)


class Trainer:
    def __init__(
        self,
        base: Checkpoint,  # the resumed checkpoint: G (or G_ema), G_ema, D and their configs
        cfg: TrainConfig,
        device: torch.device,
        dist: Dist = Dist(),
    ) -> None:
        from zizi.io.checkpoint import build_discriminator, build_generator

        if "D" not in base.tensors or base.d_config is None:
            raise CheckpointError(
                "the checkpoint has no discriminator (D), so it cannot be trained "
                "further; use a checkpoint that includes D (most NVIDIA "
                ".pkl files do; `zizi info` shows which nets a file holds)"
            )
        if cfg.batch % dist.world:
            raise ConfigError(f"--batch {cfg.batch} is not divisible by {dist.world} processes")
        self.batch_local = cfg.batch // dist.world
        self.batch_gpu = min(cfg.batch_gpu or self.batch_local, self.batch_local)
        if self.batch_local % self.batch_gpu:
            raise ConfigError(
                f"batch_gpu {self.batch_gpu} does not divide the {self.batch_local} "
                "images each process takes of --batch"
            )
        self.rounds = self.batch_local // self.batch_gpu
        self.cfg = cfg
        self.device = device
        self.dist = dist
        self.world = dist.world
        self.base = base
        g_source = "G" if "G" in base.tensors else "G_ema"
        self.G = build_generator(base, g_source, trainable=True).to(device)
        self.G_ema = build_generator(base, "G_ema" if "G_ema" in base.tensors else g_source).to(
            device
        )
        self.D = build_discriminator(base, trainable=True).to(device)
        # Reduced precision lives in the blocks; weights, gradients and Adam stay float32.
        prec.check_supported(cfg.precision, device)
        self.precision = prec.resolve(cfg.precision, device)  # fp32 | fp16 | bf16
        for net in (self.G, self.G_ema, self.D):
            prec.set_precision(net, self.precision)
        if cfg.speed.channels_last:  # 4-D weights NHWC: convs then keep activations NHWC
            for net in (self.G, self.G_ema, self.D):
                net.to(memory_format=torch.channels_last)
        self.frozen = self._freeze()
        self.frozen_g = {n.removeprefix("G.") for n in self.frozen if n.startswith("G.")}
        self.g_params = [p for _, p in trainable(self.G)]
        self.d_params = [p for _, p in trainable(self.D)]
        o, lc = cfg.optim, cfg.loss
        self.opt_G = make_adam(
            self.G, o.g_lr, o.beta1, o.beta2, o.eps, lc.pl_interval if lc.pl_weight > 0 else None
        )
        self.opt_D = make_adam(
            self.D, o.d_lr, o.beta1, o.beta2, o.eps, lc.r1_interval if lc.r1_gamma > 0 else None
        )
        # one generator per round of the global batch (see zizi.train.step)
        self.gens = [
            torch.Generator(device=device).manual_seed(rank_seed(cfg.seed, v))
            for v in self.virtual_ranks
        ]
        self.pl_mean = torch.zeros([], device=device)
        self.label_pool: torch.Tensor | None = None  # [N, c_dim] fake labels are drawn from
        self.nimg = 0
        self.step = 0
        self.data_pos = 0
        self.augment, self.ada = self._augmentation()
        # The global generators drive whatever draws from them (augmentations); seeded per
        # rank here, saved and restored with every snapshot.
        torch.manual_seed(rank_seed(cfg.seed, dist.rank))
        np.random.seed(rank_seed(cfg.seed, dist.rank) % (1 << 32))
        random.seed(rank_seed(cfg.seed, dist.rank))

    # -- set-up ----------------------------------------------------------------------------

    def _freeze(self) -> list[str]:
        fc = self.cfg.freeze
        if not (fc.d_layers or fc.mapping or fc.g_below_res):
            return []
        from zizi.train.freeze import apply_freezing

        return apply_freezing(
            self.G, self.D, d_layers=fc.d_layers, mapping=fc.mapping, g_below_res=fc.g_below_res
        )

    def _augmentation(self):
        """(AugmentPipe, AdaController) for 'ada' and 'fixed' (p held), (None, None) for 'off'."""
        ac = self.cfg.augment
        if ac.mode == "off":
            return None, None
        from zizi.train.augment import build_augment

        # transfer from an ADA checkpoint: start from its p unless the config sets one
        p = ac.p
        if ac.mode == "ada" and ac.p == 0 and self.base.augment_p is not None:
            p = float(self.base.augment_p)
        try:
            pipe, ctrl = build_augment(
                ac.mode, ac.preset, p, ac.target, ac.adjust_kimg, ac.interval
            )
        except ValueError as e:
            raise ConfigError(f"augment: {e}") from e
        return pipe.to(self.device), ctrl

    def set_label_pool(self, dataset) -> None:
        """Fake labels are drawn from the dataset's labels, one item at random each (as
        StyleGAN2-ADA does), so G sees the classes as often as the data holds them."""
        if self.G.c_dim > 0:
            self.label_pool = dataset.label_table().to(self.device)

    @property
    def virtual_ranks(self) -> range:
        """Indices of the global batch's rounds that this process runs: round i of process k
        is round i·N + k, so the N processes run rounds in the order one process would, in
        step (path-length regularisation needs the rounds before each; zizi.train.step)."""
        return range(self.dist.rank, self.world * self.rounds, self.world)

    @property
    def augment_p(self) -> float | None:
        return float(self.augment.p) if self.augment is not None else None

    @property
    def kimg(self) -> float:
        return self.nimg / 1000

    @torch.no_grad()
    def sample(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        batch: int = 16,
        noise_mode: str = "const",
    ) -> torch.Tensor:
        """G_ema's images for latents `z`; "const" (stored maps) or "none" give the same
        faces each time."""
        out = [
            self.G_ema(
                z[i : i + batch].to(self.device),
                None if c is None else c[i : i + batch].to(self.device),
                noise_mode=noise_mode,
            )
            for i in range(0, len(z), batch)
        ]
        return torch.cat(out)

    def finite(self) -> bool:
        """Whether every weight of G, G_ema and D is a finite number."""
        return all(
            bool(torch.isfinite(p).all())
            for net in (self.G, self.G_ema, self.D)
            for p in net.parameters()
        )

    # -- snapshots -------------------------------------------------------------------------

    def frame(self) -> Checkpoint:
        """A light checkpoint: G_ema only, with the images seen in `extra`."""
        return Checkpoint(
            g_config=self.base.g_config,
            d_config=None,
            tensors={"G_ema": _cpu(self.G_ema.state_dict())},
            augment_p=self.augment_p,
            provenance=self.base.provenance,
            extra={"nimg": self.nimg, "kimg": self.kimg},
        )

    def snapshot(self, extra_train: dict[str, Any] | None = None) -> Checkpoint:
        """Everything needed to continue exactly (collective: every rank must call it)."""
        per_rank = gather_objects([g.get_state().cpu() for g in self.gens], self.world)
        rng: dict[str, torch.Tensor] = {
            f"gen.{i * self.world + k}": s
            for k, states in enumerate(per_rank)
            for i, s in enumerate(states)
        }
        rng["torch_cpu"] = torch.get_rng_state()
        if self.device.type == "cuda":
            rng["torch_cuda"] = torch.cuda.get_rng_state(self.device)
        np_state = np.random.get_state()
        rng["numpy_keys"] = torch.from_numpy(np_state[1].astype(np.int64))
        py_state = random.getstate()
        rng["python"] = torch.tensor(py_state[1], dtype=torch.int64)
        train = {
            "nimg": self.nimg,
            "step": self.step,
            "data_pos": self.data_pos,
            "augment_p": self.augment_p,
            "ada": _jsonable(self.ada.state_dict()) if self.ada is not None else None,
            "pl_mean": float(self.pl_mean),
            "precision": self.precision,  # as resolved on this device (auto -> fp16 or fp32)
            "rounds": self.world * self.rounds,  # generators saved: one per round of the batch
            "numpy_rng": {
                "pos": int(np_state[2]),
                "has_gauss": int(np_state[3]),
                "cached_gaussian": float(np_state[4]),
            },
            "python_rng": {"version": py_state[0], "gauss_next": py_state[2]},
            "config": to_dict(self.cfg),
            **(extra_train or {}),
        }
        return Checkpoint(
            g_config=self.base.g_config,
            d_config=self.base.d_config,
            tensors={
                "G": _cpu(self.G.state_dict()),
                "G_ema": _cpu(self.G_ema.state_dict()),
                "D": _cpu(self.D.state_dict()),
            },
            augment_p=self.augment_p,
            provenance=self.base.provenance,
            extra={"nimg": self.nimg, "kimg": self.kimg},
            state={
                "opt_G": optimizer_tensors(self.opt_G, self.G),
                "opt_D": optimizer_tensors(self.opt_D, self.D),
                "rng": rng,
            },
            train=train,
        )

    def load_weights(self, snap: Checkpoint) -> None:
        """Put a snapshot's G, G_ema and D weights into the live networks (a rollback)."""
        for name, net in (("G", self.G), ("G_ema", self.G_ema), ("D", self.D)):
            net.load_state_dict(snap.tensors[name])

    def restore(self, snap: Checkpoint) -> None:
        """Continue from a full snapshot made by `snapshot()` (weights already built from it)."""
        tr = snap.train
        if not tr or "opt_G" not in snap.state:
            raise CheckpointError("this checkpoint is not a training snapshot (no optimiser state)")
        counters = _counters(tr)  # a crafted header is one line, before anything changes
        try:
            self._restore_state(snap, tr, counters)
        except (TypeError, ValueError, KeyError, IndexError, OverflowError, RuntimeError) as e:
            raise CheckpointError(
                f"this snapshot's training state is damaged or was not written "
                f"by zizi ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
            ) from None

    def _restore_state(
        self, snap: Checkpoint, tr: dict[str, Any], counters: tuple[int, int, int, float]
    ) -> None:
        load_optimizer_tensors(self.opt_G, self.G, snap.state["opt_G"])
        load_optimizer_tensors(self.opt_D, self.D, snap.state["opt_D"])
        self.nimg, self.step, self.data_pos, pl_mean = counters
        self.pl_mean = torch.tensor(pl_mean, dtype=torch.float32, device=self.device)
        rng = snap.state.get("rng", {})
        same_split = tr.get("rounds", 1) == self.world * self.rounds
        for v, gen in zip(self.virtual_ranks, self.gens):
            if same_split and f"gen.{v}" in rng:
                gen.set_state(rng[f"gen.{v}"].to(gen.get_state().device))
            else:  # the batch is split differently now: a fresh, still deterministic stream
                gen.manual_seed(rank_seed(self.cfg.seed + self.step, v))
        if "torch_cpu" in rng:
            torch.set_rng_state(rng["torch_cpu"])
        if "torch_cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["torch_cuda"], self.device)
        if "numpy_keys" in rng and "numpy_rng" in tr:
            n = tr["numpy_rng"]
            np.random.set_state(
                (
                    "MT19937",
                    rng["numpy_keys"].numpy().astype(np.uint32),
                    n["pos"],
                    n["has_gauss"],
                    n["cached_gaussian"],
                )
            )
        if "python" in rng and "python_rng" in tr:
            pr = tr["python_rng"]
            random.setstate(
                (pr["version"], tuple(int(v) for v in rng["python"].tolist()), pr["gauss_next"])
            )
        if self.augment is not None and tr.get("augment_p") is not None:
            self.augment.p.fill_(float(tr["augment_p"]))
        if self.ada is not None and tr.get("ada") is not None:
            self.ada.load_state_dict(tr["ada"])


def _counters(tr: dict[str, Any]) -> tuple[int, int, int, float]:
    """(nimg, step, data_pos, pl_mean) of a snapshot header, each checked: whole numbers
    from 0 to 2^62 and a finite mean, or a CheckpointError naming the field."""
    import math

    out: list[Any] = []
    for key in ("nimg", "step", "data_pos"):
        v = tr.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**62:
            raise CheckpointError(
                f"this snapshot's training state has {key} = {v!r}; a zizi "
                "snapshot records a whole number of 0 or more"
            )
        out.append(v)
    pl = tr.get("pl_mean", 0.0)
    if isinstance(pl, bool) or not isinstance(pl, (int, float)) or not math.isfinite(pl):
        raise CheckpointError(
            f"this snapshot's training state has pl_mean = {pl!r}; a zizi "
            "snapshot records a finite number"
        )
    return out[0], out[1], out[2], float(pl)


def _cpu(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in sd.items()}


def _jsonable(obj: Any) -> Any:
    if torch.is_tensor(obj):
        return obj.tolist()
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    json.dumps(obj)  # anything else must already be JSON
    return obj
