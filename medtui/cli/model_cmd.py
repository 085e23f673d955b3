"""``medtui model check PATH``: is a local model folder complete and loadable?"""

from __future__ import annotations


def register(sub, common) -> None:
    pass
