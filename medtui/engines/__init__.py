"""Training engines medtui owns. They import torch, transformers, trl and llamafactory, so they run
only in a run's subprocess (``python -m medtui.engines.<name> CONFIG.yaml``); medtui/core and the UI
never import this package.
"""
