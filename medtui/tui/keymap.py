"""Every key of the app in one table, by binding id; users override keys in the settings file.

``KEYS`` maps a binding id to its default key(s); :func:`bind` builds a screen's Binding from it
(its label is the binding id's text, see :mod:`medtui.tui.i18n`). A user's ``"keymap"`` object in
the settings file (``{"train.preview": "f10"}``) is applied with Textual's ``App.set_keymap``, as
posting does. The keys of the shell (``nav.*`` and ``app.*``) mean the same thing on every
screen; a test walks the real app and checks that no two bindings active at once share a key.
"""

from __future__ import annotations

from typing import Any

from textual.binding import Binding

from medtui.tui.i18n import t

KEYS: dict[str, str] = {
    # the shell: the same on every screen
    "nav.home": "f1",
    "nav.environment": "f2",
    "nav.models": "f3",
    "nav.datasets": "f4",
    "nav.train": "f5",
    "nav.runs": "f6",
    "nav.chat": "f7",
    "nav.export": "f8",
    "nav.predict": "f9",
    "app.help": "question_mark,f10",
    "app.language": "ctrl+t",
    "app.quit": "ctrl+q",
    # Home
    "home.open": "enter",
    "home.pipeline": "p",
    "home.refresh": "r",
    "home.next": "right,down",
    "home.previous": "left,up",
    # Environment
    "environment.rerun": "r",
    "environment.use_tf": "u",
    "environment.tf_keras": "k",
    # Models: ctrl+r starts, escape stops, ctrl+s writes, ctrl+o opens (as on the other screens)
    "models.download": "ctrl+r",
    "models.cancel": "escape",
    "models.register": "ctrl+s",
    "models.check": "ctrl+o",
    # Datasets and its dialogs
    "datasets.register": "a",
    "datasets.edit_entry": "e",
    "datasets.remove": "d",
    "datasets.new_file": "n",
    "datasets.edit_records": "o",
    "datasets.next_page": "right_square_bracket",
    "datasets.prev_page": "left_square_bracket",
    "datasets.jump": "g",
    "datasets.expand": "x",
    "datasets.validate": "v",
    "datasets.stats": "s",
    "datasets.render": "t",
    "datasets.refresh": "r",
    "datasets.editor.add": "a",
    "datasets.editor.edit": "e",
    "datasets.editor.duplicate": "c",
    "datasets.editor.delete": "d",
    "datasets.editor.save": "ctrl+s",
    "datasets.editor.close": "escape",
    "datasets.form.save": "ctrl+s",
    "datasets.form.cancel": "escape",
    "datasets.new.create": "ctrl+s",
    "datasets.new.cancel": "escape",
    "datasets.remove.cancel": "escape",
    "datasets.record.save": "ctrl+s",
    "datasets.record.cancel": "escape",
    # Train
    "train.start": "ctrl+r",
    "train.preview": "ctrl+g",
    "train.save": "ctrl+s",
    "train.load": "ctrl+o",
    "train.browse": "ctrl+b",
    "train.find": "ctrl+f,slash",
    "train.find.previous": "up",
    "train.find.next": "down",
    # Runs and Monitor
    "runs.open": "enter",
    "runs.mark": "space",
    "runs.compare": "c",
    "runs.resume": "r",
    "monitor.stop": "s",
    "monitor.kill": "k",
    "monitor.resume": "r",
    "monitor.light": "l",
    "monitor.pause_log": "p",
    "monitor.back": "escape",
    # Chat
    "chat.stop": "escape",
    "chat.clear": "ctrl+l",
    "chat.save": "ctrl+s",
    "chat.reload": "ctrl+r",
    "chat.history.previous": "up",
    "chat.history.next": "down",
    # Export and Predict
    "export.start": "ctrl+r",
    "export.verify": "ctrl+g",
    "predict.start": "ctrl+r",
    "predict.close": "escape",
    # dialogs
    "dialog.cancel": "escape",
    "dialog.ok": "enter",
    "dialog.start": "ctrl+r",
    "confirm.yes": "y",
    "confirm.no": "n,escape",
    "help.close": "escape",
}

#: Keys that pick things inside a focused widget (a list, a form): they may mean one thing in a
#: table and another in a text box. Every other key means one thing wherever it is active.
LOCAL_KEYS = frozenset({"up", "down", "left", "right", "home", "end", "pageup", "pagedown", "enter", "escape",
                        "space", "tab", "shift+tab", "backspace", "delete"})

def bind(binding_id: str, action: str, *, show: bool = True, priority: bool = False, **kwargs: Any) -> Binding:
    """The Binding ``binding_id`` (keys from :data:`KEYS`, English label from the binding id's text)."""
    return Binding(KEYS[binding_id], action, t(binding_id), show=show, priority=priority, id=binding_id, **kwargs)


def overrides(value: Any) -> tuple[dict[str, str], list[str]]:
    """The user's ``keymap`` setting as ``{binding id: keys}``, and why any entry was ignored."""
    if value is None:
        return {}, []
    if not isinstance(value, dict):
        return {}, ["keymap: expected an object of binding id -> key, e.g. {\"train.preview\": \"f10\"}"]
    good: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, keys in value.items():
        if binding_id not in KEYS:
            problems.append(f"keymap: {binding_id!r} is not a binding id (see the ? help of each screen)")
        elif not isinstance(keys, str) or not keys.strip():
            problems.append(f"keymap: {binding_id}: expected a key such as \"f10\" or \"ctrl+e\"")
        else:
            good[binding_id] = keys.strip()
    return good, problems
