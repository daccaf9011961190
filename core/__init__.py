"""GaFET core: the model and everything it needs. Knows nothing of Qt or of training."""
