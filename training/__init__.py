"""Training: datasets, losses, loops, De-expression, metrics. May import core, never Qt."""
