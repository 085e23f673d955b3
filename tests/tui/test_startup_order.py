"""What the first frame needs and what waits for it: Home draws before it reads the runs, and the
footer rebuilds its keys once per batch of binding changes, not once per change."""

from __future__ import annotations

import threading

from textual.widgets import Footer

from medtui.tui.screens.home import HomeScreen, StageNode
from medtui.tui.widgets.footer import MedtuiFooter
from tests.tui.test_environment_screen import KERAS_WARN
from tests.tui_helpers import real_app, wait_until


def card_text(app) -> str:
    return str(app.screen.query_one("#node-sft", StageNode).render())


async def test_home_shows_its_cards_before_the_runs_are_read_then_fills_them(demo_ws, tmp_path):
    release = threading.Event()

    def held_clock() -> float:  # the first poll (in its thread) waits here until the test lets it go
        release.wait(20)
        return 1_800_000_000.0

    app = real_app(demo_ws, tmp_path, screens={"home": lambda ws, lang: HomeScreen(ws, lang, clock=held_clock)})
    try:
        async with app.run_test(size=(100, 32)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.is_mounted, what="Home")
            await pilot.pause(0.2)
            assert "reading runs" in card_text(app)
            assert app.screen.query_one("#node-sft", StageNode).border_title == "SFT Supervised Fine-Tuning"
            release.set()
            await wait_until(pilot, lambda: "not run yet" in card_text(app), what="the cards filled in")
    finally:
        release.set()  # a failed check must not leave the poll thread waiting


async def test_the_footer_rebuilds_once_while_a_screen_opens(demo_ws, tmp_path, monkeypatch):
    rebuilds: list[str] = []
    recompose = Footer.recompose

    async def counted(self):
        rebuilds.append(type(self.screen).__name__)
        await recompose(self)

    monkeypatch.setattr(MedtuiFooter, "recompose", counted)
    app = real_app(demo_ws, tmp_path)
    async with app.run_test(size=(100, 32)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.query("FooterKey"),
                         what="Home's footer keys")
        await pilot.pause(0.3)
        keys = {key.description for key in app.screen.query("FooterKey")}
        assert {"Keys", "Queue rest", "Refresh"} <= keys, keys
        # Textual's own footer rebuilds 6 times here (10 on Environment): once per change of the bindings
        assert 1 <= rebuilds.count("HomeScreen") <= 2, rebuilds
        await pilot.press("f2")
        await wait_until(pilot, lambda: app.current_mode == "environment" and app.screen.query("FooterKey"),
                         what="the Environment footer")
        await pilot.pause(0.3)
        assert 1 <= rebuilds.count("EnvironmentScreen") <= 3, rebuilds


async def test_a_lost_footer_rebuild_does_not_freeze_the_footer(demo_ws, tmp_path, monkeypatch):
    """Textual runs a rebuild on the screen current when it is handled; if that screen goes at once
    the rebuild is lost, and the footer must still follow later changes."""
    from medtui.tui.widgets import footer as footer_module

    monkeypatch.setattr(footer_module, "LOST_AFTER", 0.2)
    app = real_app(demo_ws, tmp_path, "environment")
    async with app.run_test(size=(100, 32)) as pilot:
        await wait_until(pilot, lambda: app.screen.query("FooterKey") and not app.screen.running, 120,
                         what="Environment and its checks")
        await pilot.pause(0.2)
        footer = app.screen.query_one(MedtuiFooter)
        lost = []
        footer.call_after_refresh = lambda callback: lost.append(callback) or True
        app.screen.refresh_bindings()  # this rebuild is asked for and never runs
        await pilot.pause(0.1)
        assert len(lost) == 1
        del footer.call_after_refresh
        await pilot.pause(0.3)
        app.screen.results["keras"] = KERAS_WARN  # the Keras fixes appear: the footer must list them
        app.screen.refresh_bindings()
        await wait_until(pilot, lambda: "Install tf-keras" in {k.description for k in app.screen.query("FooterKey")},
                         what="the footer to show the new keys")
