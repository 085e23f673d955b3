"""In the real MedtuiApp: registry entries of the wrong shape (a list, a number file_name, list columns)
are listed as BAD with what is wrong, never crash the Datasets screen, refuse the entry form, and can
be removed; the other datasets work as before."""

from __future__ import annotations

import json

from textual.widgets import DataTable, Static

from medtui.tui.app import MedtuiApp
from medtui.tui.screens.datasets.forms import ConfirmRemove
from medtui.tui.screens.datasets.screen import DatasetsScreen
from tests.tui_helpers import wait_until

BAD = {"a-list": [1, 2], "b-number": {"file_name": 5}, "c-columns": {"file_name": "x.json", "columns": ["p"]},
       "demo_sft_train_data": {"file_name": "demo_sft_train_data.json"}}


async def test_bad_entries_are_named_not_fatal(demo_ws, tmp_path):
    demo_ws.registry_path.write_text(json.dumps(BAD, indent=2))
    app = MedtuiApp(demo_ws, lang="en", settings_path=tmp_path / "settings.json")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, DatasetsScreen) and app.screen.rows, what="Datasets")
        screen = app.screen
        table = screen.query_one("#datasets", DataTable)
        assert [screen.rows[n].problem for n in BAD][:3] == ["the entry must be a JSON object, found a list",
                                                            "file_name must be a string, found a number",
                                                            "columns must be a JSON object, found a list"]
        for i, name in enumerate(BAD):
            table.move_cursor(row=i)
            await wait_until(pilot, lambda name=name: screen.current == name, what=name)
            await pilot.pause(0.2)
            shown = str(screen.query_one("#records-view", Static).render())
            if name in ("a-list", "b-number", "c-columns"):
                assert "the registry entry is wrong" in shown and "BAD" in str(table.get_row_at(i))
                for key in ("e", "v", "s", "o"):  # edit entry, validate, stats, edit records: no crash
                    await pilot.press(key)
                    await pilot.pause(0.2)
                    assert app.screen is screen or not isinstance(app.screen, DatasetsScreen)
                    if app.screen is not screen:
                        await pilot.press("escape")
                        await wait_until(pilot, lambda: app.screen is screen, what="back to Datasets")
        assert any("the registry entry is wrong" in n.message for n in app._notifications)
        table.move_cursor(row=0)
        await wait_until(pilot, lambda: screen.current == "a-list", what="a-list")
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmRemove), what="the confirmation")
        await pilot.click("#yes")
        await wait_until(pilot, lambda: "a-list" not in screen.rows, what="the removal")
    assert list(json.loads(demo_ws.registry_path.read_text())) == ["b-number", "c-columns", "demo_sft_train_data"]
