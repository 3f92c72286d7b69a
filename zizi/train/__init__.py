"""StyleGAN2 training: config, losses, EMA, optimisers, the step, the run folder, the loop.

The maths follows StyleGAN2 (Karras et al. 2020) as the ADA tools train it; each piece is
a small module so that a step reads as a few function calls:
`config` (TrainConfig), `losses` (logistic losses, R1, path length, style mixing),
`ema` (G_ema), `optim` (Adam with the lazy-regularisation correction, finite gradients,
optimiser state in checkpoints), `data` (the resumable data order), `state` (RNG and
progress), `step` (one minibatch: four phases), `run` (the run folder), `loop` (ticks,
snapshots, stopping), `setup` (from command-line inputs to a ready trainer),
`distributed` (DDP).
"""
