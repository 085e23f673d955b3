"""The app shell in the real MedtuiApp: keys, navigation, the palette's actions, the error path, focus.

Every test drives the whole app (its modes, its keymap and its pushed screens), never a screen in
a bare host app, because what is tested here is how the screens live together.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from textual.widgets import Input, Select

from medtui.core.runs.records import read_record, write_record
from medtui.core.workspace import Workspace
from medtui.tui.app import MedtuiApp
from medtui.tui.keymap import KEYS, LOCAL_KEYS
from medtui.tui.screens.home import HomeScreen, StageNode
from tests.tui_helpers import T0, make_run, type_into, wait_until

SIZE = (100, 32)
MODES = (("f1", "home"), ("f2", "environment"), ("f3", "models"), ("f4", "datasets"), ("f5", "train"),
         ("f6", "runs"), ("f7", "chat"), ("f8", "export"))


def make_app(ws: Workspace, tmp_path: Path, lang: str = "en", settings: dict | None = None) -> MedtuiApp:
    path = tmp_path / "config" / "medtui" / "config.json"
    if settings is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    return MedtuiApp(ws, lang=lang, settings_path=path)


async def go(pilot, app: MedtuiApp, key: str, mode: str) -> None:
    await pilot.press(key)
    await wait_until(pilot, lambda: app.current_mode == mode and app.screen.is_mounted, what=f"mode {mode}")
    await pilot.pause(0.1)


def notes(app: MedtuiApp) -> list[str]:
    return [n.message for n in app._notifications]


# -- keys ------------------------------------------------------------------------------------------
def clashes(app: MedtuiApp) -> list[str]:
    """Keys bound twice in the binding chain active now (a medtui binding shadowing or shadowed)."""
    by_key: dict[str, list] = {}
    for node, bindings in app.screen._modal_binding_chain:
        for key, binding in bindings:
            by_key.setdefault(key, []).append((node, binding))
    found = []
    for key, items in by_key.items():
        ours = [b for _, b in items if b.id in KEYS]
        if key in LOCAL_KEYS or not ours or len({id(n) for n, _ in items}) < 2:
            continue
        found.append(f"{type(app.screen).__name__}, focus {type(app.screen.focused).__name__}: {key} is "
                     + " and ".join(f"{type(n).__name__}.{b.action}" for n, b in items))
    return found


async def walk_focus(pilot, app: MedtuiApp, limit: int = 30) -> list[str]:
    """Clashes with nothing focused, then with a focusable widget of each kind on the screen focused in
    turn (bindings come from the widget's class and its ancestors' classes, so one widget per kind and
    kind of container is enough)."""
    found = clashes(app)
    kinds: set[tuple] = set()
    for widget in list(app.screen.focus_chain)[:limit]:
        kind = (type(widget), *(type(node) for node in widget.ancestors))
        if kind in kinds:
            continue
        kinds.add(kind)
        widget.focus()
        await pilot.pause()
        found += clashes(app)
    return found


def own_keys_shown(app: MedtuiApp) -> bool:
    """The footer lists the screen's own keys (and ``? Keys``)."""
    from textual.widgets._footer import FooterKey

    own = {b.description for node, b, enabled, _ in app.screen.active_bindings.values()
           if node is not app and b.show and enabled}
    shown = {fk.description for fk in app.screen.query(FooterKey)}
    return bool(own) and own <= shown and "Keys" in shown


async def test_every_screen_its_tab_footer_f9_escape_and_no_key_bound_twice(demo_ws, tmp_path):
    """The shell on every screen: its tab is lit (in text too), the footer lists its own keys, F9
    twice stacks one Predict and Esc returns to the same screen; there, on the pushed screens and in
    the dialogs no key is bound twice in what is active. Ctrl+q quits."""
    from medtui.tui.widgets.navbar import NavBar

    make_run(demo_ws, "20260101-100000-sft-aaaa")
    app = make_app(demo_ws, tmp_path)
    found: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        for key, mode in (*MODES[1:], MODES[0]):
            await go(pilot, app, key, mode)
            before = app.screen
            bar = app.screen.query_one(NavBar)
            assert bar.current == mode and f"▸{key} " in bar.render().plain  # where you are, in text too
            await wait_until(pilot, lambda: own_keys_shown(app), what=f"the footer of {mode}")
            found += await walk_focus(pilot, app)
            await pilot.press("f9", "f9")  # Predict over every screen (its own widgets walked once)
            await wait_until(pilot, lambda: type(app.screen).__name__ == "PredictScreen", what="Predict")
            assert len(app.screen_stack) == 2  # one Predict, however often F9 is pressed
            found += await walk_focus(pilot, app) if key == MODES[0][0] else clashes(app)
            await pilot.press("escape")
            await pilot.pause(0.1)
            assert app.screen is before and app.current_mode == mode
        # the pushed screens and dialogs
        await app.open_run("20260101-100000-sft-aaaa")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "MonitorScreen", what="Monitor")
        found += await walk_focus(pilot, app)
        await pilot.press("r")  # the Resume dialog over the Monitor
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ResumeScreen", what="Resume")
        found += await walk_focus(pilot, app)
        await pilot.press("escape")
        await pilot.pause(0.1)
        await pilot.press("escape", "f4")
        await wait_until(pilot, lambda: app.current_mode == "datasets" and app.screen.current, what="Datasets")
        from textual.widgets import TabbedContent

        app.screen.query_one("#tabs", TabbedContent).active = "tab-render"  # (t would also start a render)
        await pilot.pause(0.2)
        found += await walk_focus(pilot, app)
        for key, dialog in (("a", "EntryForm"), ("n", "NewDatasetForm"), ("o", "RecordsEditor")):
            app.screen.query_one("#datasets").focus()
            await pilot.press(key)
            await wait_until(pilot, lambda dialog=dialog: type(app.screen).__name__ == dialog, what=dialog)
            found += await walk_focus(pilot, app)
            if dialog == "RecordsEditor":
                await pilot.press("a")
                await wait_until(pilot, lambda: type(app.screen).__name__ == "RecordForm", what="the record form")
                found += await walk_focus(pilot, app)
                await pilot.press("escape")
                await pilot.pause(0.1)
            await pilot.press("escape")
            await pilot.pause(0.2)
        await go(pilot, app, "f5", "train")
        for key, dialog in (("ctrl+g", "PreviewScreen"), ("ctrl+f", "FieldSearch"), ("ctrl+s", "PathScreen"),
                            ("f10", "KeysScreen")):
            await pilot.press(key)
            await wait_until(pilot, lambda dialog=dialog: type(app.screen).__name__ == dialog, what=dialog)
            found += await walk_focus(pilot, app)
            await pilot.press("escape")
            await pilot.pause(0.2)
        assert found == []
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code in (0, None)


async def test_keys_of_the_shell_mean_one_thing_on_every_screen():
    """No screen binds a key of the shell (F1-F9, ctrl+t, ctrl+q, ?/F10) to something else."""
    import importlib
    import pkgutil

    from textual.dom import DOMNode

    import medtui.tui

    for module in pkgutil.walk_packages(medtui.tui.__path__, "medtui.tui."):
        importlib.import_module(module.name)
    shell = {k for bid, keys in KEYS.items() if bid.startswith(("nav.", "app.")) for k in keys.split(",")}
    # Apps are left out: their ctrl+q is quit, the shell's meaning (`medtui chat MODEL` defines a small
    # App around the Chat screen when it runs, so whether one exists here depends on the tests before).
    from textual.app import App

    nodes = [cls for cls in _subclasses(DOMNode) if cls.__module__.startswith("medtui.") and not issubclass(cls, App)]
    for cls in nodes:
        for key, bindings in (cls._merged_bindings.key_to_bindings.items() if cls._merged_bindings else []):
            assert key not in shell, f"{cls.__name__} binds {key} ({bindings[0].action}), a key of the shell"
    ids = [b.id for cls in nodes for b in (cls.__dict__.get("BINDINGS") or [])]
    assert all(ids) and set(ids) <= set(KEYS), "every binding has an id from the keymap"


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


async def test_user_keymap_from_the_settings_file(demo_ws, tmp_path):
    from medtui.tui.widgets.navbar import NavBar

    app = make_app(demo_ws, tmp_path, settings={"keymap": {"nav.train": "f12", "train.preview": "ctrl+y",
                                                           "no.such.binding": "x"}})
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        assert any("'no.such.binding' is not a binding id" in n for n in notes(app))
        assert " f12 Train" in app.screen.query_one(NavBar).render().plain
        await pilot.press("f5")
        await pilot.pause(0.3)
        assert app.current_mode == "home"  # f5 no longer opens Train
        await go(pilot, app, "f12", "train")
        await pilot.press("ctrl+y")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "PreviewScreen", what="the preview on ctrl+y")


async def test_help_overlay_lists_the_current_screens_keys_in_both_languages(demo_ws, tmp_path):
    app = make_app(demo_ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        await go(pilot, app, "f5", "train")
        field = app.screen.query_one("#f-template", Input)
        field.focus()
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        assert field.value == "?" and type(app.screen).__name__ == "TrainScreen"  # a text field takes a typed ?
        await pilot.press("f10")  # F10 works everywhere
        await wait_until(pilot, lambda: type(app.screen).__name__ == "KeysScreen", what="the keys")
        own = str(app.screen.query_one("#keys-own").render())
        shell = str(app.screen.query_one("#keys-shell").render())
        assert "^g  Preview" in own and "^r  Start" in own and "^f /  Find" in own
        assert "f9  Predict" in shell and "f1  Home" in shell and "^t  中文" in shell
        await pilot.press("ctrl+t")
        await pilot.pause(0.2)
        assert "^g  预览" in str(app.screen.query_one("#keys-own").render())
        await pilot.press("question_mark")  # ? closes it too
        await pilot.pause(0.1)
        assert type(app.screen).__name__ == "TrainScreen"
        await pilot.press("f10", "escape")
        await pilot.pause(0.1)
        assert type(app.screen).__name__ == "TrainScreen"


# -- navigation --------------------------------------------------------------------------------------
async def test_ctrl_t_over_predict_on_home_relabels_it_and_escape_returns_home(demo_ws, tmp_path):
    """F1, F9, ctrl+t once crashed with ActiveModeError. (F9 then Esc on every screen: the key test
    above, and tests/tui/test_shell_tmux.py in a real terminal.)"""
    app = make_app(demo_ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        await pilot.press("f1", "f9", "ctrl+t")
        await pilot.pause(0.3)
        assert type(app.screen).__name__ == "PredictScreen" and app.screen.title == "预测"
        await pilot.press("ctrl+t", "escape")
        await pilot.pause(0.2)
        assert isinstance(app.screen, HomeScreen)


async def test_three_monitors_in_a_row_each_poll_and_home_keeps_updating(demo_ws, tmp_path):
    """Monitors never pile up, and opening them never starves the other workers (Home's refresh)."""
    ids = [f"2026010{i}-100000-sft-000{i}" for i in range(1, 4)]
    for i, run_id in enumerate(ids):
        make_run(demo_ws, run_id, status="running", started=time.time() - 60 + i)
    app = make_app(demo_ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        for run_id in ids:
            await app.open_run(run_id)
            await wait_until(pilot, lambda run_id=run_id: getattr(app.screen, "run_id", None) == run_id
                             and app.screen._polled, what=f"the monitor of {run_id} polled")
            assert [type(s).__name__ for s in app.screen_stack] == ["RunsScreen", "MonitorScreen"]
            await go(pilot, app, "f1", "home")
        home = app.screen
        record = read_record(demo_ws.runs_dir / ids[-1])
        record.update(status="succeeded", ended=time.time(), exit_code=0, pid=None)
        write_record(demo_ws.runs_dir / ids[-1], record)
        await wait_until(pilot, lambda: home.summaries.get("sft") and home.summaries["sft"].status == "succeeded",
                         what="Home showing the succeeded run")
        assert "not run yet" not in str(home.query_one("#node-sft", StageNode).render())
        await go(pilot, app, "f6", "runs")
        runs = app.screen
        assert [type(s).__name__ for s in app.screen_stack] == ["RunsScreen"]  # F6 shows the list itself
        await wait_until(pilot, lambda: runs.cursor_run() == ids[-1], what="the cursor on the newest run")
        await app.open_run(ids[0])
        await wait_until(pilot, lambda: getattr(app.screen, "run_id", None) == ids[0], what="a monitor")
        await pilot.press("escape")  # one Esc from a monitor returns to the list
        await pilot.pause(0.1)
        assert app.screen is runs and len(app.screen_stack) == 1


async def test_the_runs_cursor_follows_a_new_run_on_top(demo_ws, tmp_path):
    make_run(demo_ws, "20260101-100000-sft-0001", started=T0)
    make_run(demo_ws, "20260102-100000-sft-0002", started=T0 + 10)
    app = make_app(demo_ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await go(pilot, app, "f6", "runs")
        runs = app.screen
        await wait_until(pilot, lambda: len(runs.rows) == 2, what="two rows")
        await pilot.press("down")  # the older run
        await wait_until(pilot, lambda: runs.cursor_run() == "20260101-100000-sft-0001", what="the cursor moved")
        make_run(demo_ws, "20260103-100000-dpo-0003", started=T0 + 20)
        await wait_until(pilot, lambda: len(runs.rows) == 3, what="the new run listed")
        assert runs.cursor_run() == "20260103-100000-dpo-0003"


# -- the palette -------------------------------------------------------------------------------------
async def palette(pilot, text: str) -> None:
    """Open the palette, enter ``text`` at once (as a paste: one search, not one per letter), wait
    until the highlighted command is the one asked for, and run it."""
    from textual.command import CommandInput, CommandList

    await pilot.press("ctrl+p")
    await wait_until(pilot, lambda: pilot.app.screen.query(CommandInput), what="the palette")
    pilot.app.screen.query_one(CommandInput).value = text

    def offered() -> bool:
        commands = pilot.app.screen.query_one(CommandList)
        if not commands.option_count or commands.highlighted is None:
            return False
        prompt = commands.get_option_at_index(commands.highlighted).prompt
        return text.lower() in getattr(prompt, "plain", str(prompt)).lower()

    await wait_until(pilot, offered, what=f"the palette offering {text!r}")
    await pilot.press("enter")


async def test_palette_offers_new_runs_the_latest_run_stop_and_datasets(demo_ws, tmp_path, monkeypatch):
    from medtui.core.runs import runner

    stopped = []
    monkeypatch.setattr(runner, "stop", lambda run, **kw: stopped.append(run.id) or run)
    make_run(demo_ws, "20260101-100000-sft-aaaa", started=T0 - 100)
    make_run(demo_ws, "20260102-100000-dpo-bbbb", stage="dpo", status="running", started=time.time())
    app = make_app(demo_ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        await palette(pilot, "New run: dpo")
        await wait_until(pilot, lambda: app.current_mode == "train" and app.screen.state.stage == "dpo"
                         and app.screen.state.values.get("output_dir"), what="a prefilled dpo form")
        await palette(pilot, "Open the latest run")
        await wait_until(pilot, lambda: getattr(app.screen, "run_id", None) == "20260102-100000-dpo-bbbb",
                         what="the latest run's monitor")
        await palette(pilot, "Stop run 20260102")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", what="the confirmation")
        await pilot.press("y")
        await wait_until(pilot, lambda: stopped == ["20260102-100000-dpo-bbbb"], what="the stop")
        await palette(pilot, "Open dataset demo_kto")
        await wait_until(pilot, lambda: app.current_mode == "datasets" and app.screen.current == "demo_kto_train_data",
                         what="the dataset")


# -- the error path ------------------------------------------------------------------------------------
async def test_a_failing_worker_is_shown_logged_and_its_screen_usable_again(demo_ws, tmp_path, monkeypatch):
    from medtui.core.stages import launch

    def boom(*args, **kwargs):
        raise RuntimeError("the launcher broke\nsecond line")

    monkeypatch.setattr(launch, "launch", boom)
    app = make_app(demo_ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        app.screen.query_one("#node-sft", StageNode).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.current_mode == "train" and app.screen.state.values.get("output_dir"),
                         what="the sft form")
        train = app.screen
        for attempt in (1, 2):  # Start works again after the failure
            await pilot.press("ctrl+r")
            await wait_until(pilot, lambda attempt=attempt: sum("RuntimeError: the launcher broke second line" in n
                                                                for n in notes(app)) == attempt, what="the error")
            assert not train.starting
    log = (demo_ws.state_dir / "ui.log").read_text()
    assert "TrainScreen/start: RuntimeError: the launcher broke" in log and "Traceback" in log


async def test_a_malformed_dataset_entry_on_start_says_why(demo_ws, tmp_path):
    info = json.loads(demo_ws.registry_path.read_text())
    info["demo_sft_train_data"] = "not an object"
    demo_ws.registry_path.write_text(json.dumps(info))
    app = make_app(demo_ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        app.screen.query_one("#node-sft", StageNode).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.current_mode == "train" and app.screen.state.values.get("dataset"),
                         what="the sft form")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: any("must be a JSON object" in n for n in notes(app)), what="the reason")
        assert not app.screen.starting
        shown = (app.screen.query_one("#form-problems").render().plain  # on the form too, above the fields
                 + app.screen.query_one("#row-dataset").query_one(".field-error").render().plain)
        assert "must be a JSON object" in shown and "demo_sft_train_data" in shown


async def test_a_malformed_run_record_is_named_and_hides_no_other_run(demo_ws, tmp_path):
    make_run(demo_ws, "20260101-100000-sft-aaaa")
    make_run(demo_ws, "20260102-100000-dpo-bbbb", stage="dpo")
    bad = demo_ws.runs_dir / "20260103-100000-kto-cccc"
    bad.mkdir(parents=True)
    (bad / "run.json").write_text("[]")
    app = make_app(demo_ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        await go(pilot, app, "f6", "runs")
        screen = app.screen
        await wait_until(pilot, lambda: len(screen.rows) == 2, what="the two readable runs")
        hint = screen.query_one("#runs-hint").render().plain
        assert "1 run record(s) cannot be read: 20260103-100000-kto-cccc" in hint
        assert "No runs" not in hint


# -- focus ---------------------------------------------------------------------------------------------
async def test_dialogs_open_with_their_first_field_focused(demo_ws, tmp_path):
    app = make_app(demo_ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        await go(pilot, app, "f4", "datasets")
        await wait_until(pilot, lambda: app.screen.current, what="a dataset")
        for key, dialog, first in (("a", "EntryForm", "name"), ("e", "EntryForm", "file"),
                                   ("n", "NewDatasetForm", "new-name")):
            await pilot.press(key)
            await wait_until(pilot, lambda dialog=dialog: type(app.screen).__name__ == dialog, what=dialog)
            await pilot.pause(0.1)
            assert app.screen.focused is not None and app.screen.focused.id == first, (key, app.screen.focused)
            await pilot.press("escape")
            await pilot.pause(0.1)
        await pilot.press("o")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "RecordsEditor", what="the editor")
        await pilot.press("e")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "RecordForm", what="the record form")
        await pilot.pause(0.1)
        assert app.screen.focused.id == "field-0"
        await pilot.press("x", "y")
        assert app.screen.query_one("#field-0").text.startswith("xy")  # typing is not lost


async def test_train_find_jumps_to_a_field_in_a_closed_section(demo_ws, tmp_path):
    app = make_app(demo_ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        await go(pilot, app, "f5", "train")
        assert not app.screen.query("#f-num_train_epochs")  # its section is closed and not built yet
        await pilot.press("ctrl+f", "e", "p", "o", "enter")  # five keys
        await wait_until(pilot, lambda: app.screen.focused is not None and app.screen.focused.id == "f-num_train_epochs",
                         what="num_train_epochs focused")
        await pilot.press("5")
        await pilot.pause(0.1)
        assert app.screen.state.values["num_train_epochs"] == "5"


async def test_a_focused_compact_select_stands_out(demo_ws, tmp_path):
    from textual.widgets._select import SelectCurrent

    app = make_app(demo_ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        await go(pilot, app, "f5", "train")
        select = app.screen.query_one("#method", Select)
        blurred = select.query_one(SelectCurrent).styles.background
        select.focus()
        await pilot.pause(0.1)
        focused = select.query_one(SelectCurrent).styles.background
        assert focused != blurred and focused.a > 0.3


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_language_switch_with_predict_open_keeps_everything(demo_ws, tmp_path, lang):
    app = make_app(demo_ws, tmp_path, lang=lang)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        await go(pilot, app, "f5", "train")
        await type_into(pilot, app.screen.query_one("#f-cutoff_len", Input), "77")
        await pilot.press("f9")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "PredictScreen", what="Predict")
        predict = app.screen
        await pilot.press("ctrl+t", "ctrl+t")
        await pilot.pause(0.3)
        assert app.screen is predict and app.lang == lang
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.screen.state.values["cutoff_len"] == "77"


async def test_a_select_shows_its_label_in_the_new_language(demo_ws, tmp_path):
    """The shown label changes too, not only the list (Textual keeps the old one when the value stays)."""
    from textual.widgets._select import SelectCurrent

    def shown(select: Select) -> str:
        return str(select.query_one(SelectCurrent).query_one("#label").render())

    app = make_app(demo_ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await go(pilot, app, "f5", "train")
        train = app.screen
        assert shown(train.query_one("#stage", Select)).startswith("sft · Supervised")
        await pilot.press("f9")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "PredictScreen", what="Predict")
        assert shown(app.screen.query_one("#mode", Select)) == "Predict (BLEU-4, ROUGE)"
        await pilot.press("ctrl+t")
        await pilot.pause(0.3)
        assert shown(app.screen.query_one("#mode", Select)) == "预测(BLEU-4、ROUGE)"
        assert shown(train.query_one("#stage", Select)).startswith("sft · ") and "Supervised" not in shown(
            train.query_one("#stage", Select))


def test_an_unknown_start_screen_is_refused_rather_than_opening_blank(demo_ws, tmp_path):
    with pytest.raises(ValueError, match="unknown start screen 'nowhere'.*home, environment"):
        MedtuiApp(demo_ws, settings_path=tmp_path / "config.json", start="nowhere")
