"""Training: the loop, losses, regularisers, EMA, ADA augmentation, freezing, run folders."""
