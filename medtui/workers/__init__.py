"""Child processes (``python -m medtui.workers.X``) that may import torch, transformers, llamafactory or the hub SDKs.

Nothing in ``medtui.core`` or ``medtui.tui`` imports this package; they start its modules as subprocesses."""
