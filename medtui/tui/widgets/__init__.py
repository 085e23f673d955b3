"""Textual widgets shared by medtui screens."""
