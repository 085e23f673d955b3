"""The Runs screen and the run Monitor pushed over it."""
