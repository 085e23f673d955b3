"""medtui: a terminal app for the LLaMA-Factory fine-tuning lifecycle.

The package is split in two: :mod:`medtui.core` is plain Python (no Textual, no torch)
and :mod:`medtui.tui` only shows and drives it.
"""

__version__ = "0.1.0"
