"""A TextArea without Textual's F6 (select line) and F7 (select all): F-keys switch screens everywhere."""

from __future__ import annotations

from textual.binding import BindingsMap
from textual.widgets import TextArea as _TextArea

#: Keys of Textual's TextArea that the app's navigation owns.
NAVIGATION_KEYS = ("f6", "f7")


class TextArea(_TextArea):
    @classmethod
    def _merge_bindings(cls) -> BindingsMap:
        bindings = super()._merge_bindings()
        for key in NAVIGATION_KEYS:
            bindings.key_to_bindings.pop(key, None)
        return bindings
