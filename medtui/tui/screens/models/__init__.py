"""The Models screen: ModelScope downloads and model folder checks."""
