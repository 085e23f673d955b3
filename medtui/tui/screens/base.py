"""The base of every medtui screen and dialog: workspace, language, title, and relabelling in place.

A language switch calls :meth:`MedtuiScreen.set_lang` on every screen of every stack. The screen
keeps its widgets and state and relabels them: the footer's binding labels (by binding id), every
text shown with :meth:`MedtuiScreen.tr` (remembered as a :class:`~medtui.tui.i18n.Phrase`), every
descendant widget that has a ``set_lang(lang)`` method, then :meth:`MedtuiScreen.relabel` for the
text a screen builds from its state (status lines, table cells).
"""

from __future__ import annotations

from typing import Any, TypeVar

from textual.screen import Screen
from textual.worker import Worker, WorkerState

from medtui.core.workspace import Workspace
from medtui.tui.i18n import Phrase, localise_bindings, mark, relabel_marked, t

W = TypeVar("W")


def relabel_select(select: Any, options: list[tuple[str, Any]]) -> None:
    """Give ``select`` options with new labels, keeping its value and showing the new label.

    ``Select.set_options`` re-picks the first option and, when that is the value already held,
    Textual sees no change and keeps showing the old label; the forced update redraws it.
    """
    from textual.widgets import Select

    value = select.value
    with select.prevent(Select.Changed):
        select.set_options(options)
        if value in {v for _, v in options} or value == Select.NULL:
            select.value = value
        select.mutate_reactive(Select.value)


def current_lang() -> str:
    """The running app's language (English outside an app)."""
    from textual._context import active_app

    try:
        return getattr(active_app.get(), "lang", "en")
    except LookupError:
        return "en"


class Localised:
    """Text helpers for a node that shows text in ``self.lang`` (screens, and widgets that hold state)."""

    lang: str = "en"

    def t(self, key: str, **fmt: Any) -> str:
        return t(key, self.lang, **fmt)

    def tr(self, widget: W, value: str | Phrase, attr: str | None = None, **fmt: Any) -> W:
        """Show the text ``value`` (a key, with ``fmt``) on ``widget``; it follows language switches.

        ``attr`` is the widget's text to set (by default its label, placeholder, prompt, title or
        content, by kind). Returns the widget, so compose can ``yield self.tr(Label(), "key")``.
        """
        return mark(widget, value if isinstance(value, Phrase) else Phrase(value, fmt), self.lang, attr)

    def show(self, widget: W, value: str | Phrase, attr: str | None = None) -> W:
        """Show ``value`` on ``widget``: a literal string as it is (an error, a path), a Phrase translated."""
        return mark(widget, value, self.lang, attr)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one error path (:mod:`medtui.tui.errors`) for this node's thread workers.

        Textual does not bubble worker state changes, so each node that runs workers reports its own.
        """
        worker = event.worker
        if event.state == WorkerState.ERROR and worker.error is not None:
            from medtui.tui.errors import report

            report(self.app, worker.node, worker.group, worker.error)

    def set_lang(self, lang: str) -> None:
        """Called on each such widget of a screen whose language switched (its marked texts are done)."""
        self.lang = lang
        self.relabel()

    def relabel(self) -> None:
        """Redraw the text built from state (status lines, cells) in ``self.lang``."""


class MedtuiScreen(Localised, Screen):
    """A screen constructed as ``XScreen(workspace, lang)``; ``set_lang`` switches its language."""

    #: The screen's name; its title is the text ``title.<NAME>``.
    NAME = ""

    def __init__(self, workspace: Workspace | None = None, lang: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workspace = workspace
        self.lang = lang or current_lang()
        localise_bindings(self, self.lang)
        self._apply_title()

    def navbar(self):
        """The top line of a top-level screen: the F-key tabs, this one lit."""
        from medtui.tui.widgets.navbar import NavBar

        return NavBar(self.NAME, self.lang)

    def worker_failed(self, group: str, error: BaseException) -> None:
        """A worker of this screen failed (the app has told the user): make the screen usable again."""

    def _apply_title(self) -> None:
        if self.NAME:
            self.title = self.t(f"title.{self.NAME}")

    def set_lang(self, lang: str) -> None:
        """Switch this screen's language in place; nothing is rebuilt, no state is lost."""
        if lang == self.lang:
            return
        self.lang = lang
        localise_bindings(self, lang)
        self._apply_title()
        if not self.is_mounted:
            return
        for widget in self.query("*"):
            localise_bindings(widget, lang)
            relabel_marked(widget, lang)
            set_lang = getattr(widget, "set_lang", None)
            if callable(set_lang):
                set_lang(lang)
        self.relabel()
        self.refresh_bindings()


class MedtuiModal(MedtuiScreen):
    """A dialog over the current screen: it takes the keys first and dims what is below.

    It opens with its first field focused (not its scrolling container), so typing goes there.
    """

    AUTO_FOCUS = "Input, TextArea, Select, Checkbox, OptionList, SelectionList, Button"

    DEFAULT_CSS = """
    MedtuiModal {
        layout: vertical;
        overflow-y: auto;
        background: $background 60%;
        &:ansi { background: transparent; }
    }
    """

    def __init__(self, workspace: Workspace | None = None, lang: str | None = None, **kwargs: Any) -> None:
        super().__init__(workspace, lang, **kwargs)
        self._modal = True
