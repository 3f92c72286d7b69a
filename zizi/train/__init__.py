"""StyleGAN2 training: config, losses, EMA, optimisers, ADA, freezing, the step, the run folder.

The maths follows StyleGAN2 (Karras et al. 2020) as the ADA tools train it; each piece is
a small module so that a step reads as a few function calls.

Reading order, as a training run goes (`zizi train` in `zizi/cli/train.py` parses the
flags into a `setup.TrainJob` and calls `run_job`):

1. `setup` — from what a person typed to a ready run: the source checkpoint (or `--net`
   preset, or the run being continued), the dataset, the resolved `config.TrainConfig`
   (defaults < `--config` files < `--set` < flags), a `trainer.Trainer`, the run folder.
2. `trainer` — the state a snapshot holds: G, G_ema, D, both Adam optimisers (`optim`),
   the random generators, images seen, the data position; ADA (`augment`) and frozen
   layers (`freeze`) are built here. `snapshot()` and `restore()` make a resume exact.
3. `loop` — `train(trainer, dataset, run)`: minibatches from `data` (the seeded,
   resumable data order) until the run's length; each one is `step.train_step(trainer,
   reals, labels)`; ticks (logged, checked for NaN), frames and snapshots written through
   `run` (the run folder; its layout is `zizi.io.runs`'s), warnings from `watch`.
4. `step` — one minibatch as four phases (G main, G reg, D main, D reg) over the
   trainer's state, with the maths in `losses` (logistic losses, R1, path length, style
   mixing), `ema` (G_ema's β) and `optim` (finite gradients); gradients are averaged over
   processes by `distributed` (DDP without the wrapper), which `loop` also uses so that
   every rank stops together.

The arrows point one way: `loop` imports `step` and `trainer`; `step` knows the
`Trainer` only as a type; `trainer` knows nothing of the step or the loop.
"""
