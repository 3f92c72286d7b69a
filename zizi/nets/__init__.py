"""StyleGAN2 (config-f) networks: mapping, synthesis, generator and resnet discriminator.

Parameter and buffer names follow the NVIDIA PyTorch checkpoints exactly, so an imported
state dict loads with `load_state_dict(strict=True)`.
"""
