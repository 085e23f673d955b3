"""Model hubs: ModelScope downloads and model folder checks."""
