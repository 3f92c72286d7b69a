"""StyleGAN2 training: config, losses, EMA, optimisers, ADA, freezing, the step, the run folder.

The maths follows StyleGAN2 (Karras et al. 2020) as the ADA tools train it; each piece is
a small module so that a step reads as a few function calls:
`config` (TrainConfig), `losses` (logistic losses, R1, path length, style mixing),
`ema` (G_ema), `optim` (Adam with the lazy-regularisation correction, finite gradients,
optimiser state in checkpoints), `augment` (ADA), `freeze` (FreezeD and friends),
`data` (the resumable data order), `trainer` (nets, optimisers, RNG, snapshots),
`step` (one minibatch: four phases), `run` (the run folder), `loop` (ticks, snapshots,
stopping), `setup` (from command-line inputs to a ready trainer), `distributed` (DDP).
"""
