"""The medtui core: workspace, registry, stage specs, command builder, runner, readers.

Nothing in this package imports Textual, torch, transformers or llamafactory at module
level. Heavy work runs in subprocesses (see :mod:`medtui.core.runs.runner`).
"""
