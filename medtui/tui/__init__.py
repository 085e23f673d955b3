"""The Textual layer: it only shows and drives :mod:`medtui.core`."""
