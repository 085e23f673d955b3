"""The registry under concurrent writers: ``medtui data add``/``remove`` from several processes lose
nothing and never leave a torn file; a symlinked registry is edited at its target, through the link."""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import pytest

from medtui.cli import main
from medtui.core.data.registry import DatasetRegistry, RegistryError

WRITERS, ROUNDS = 4, 50


def _cli(*argv: str) -> int:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    if code != 0:
        print(f"{argv}: {code} {err.getvalue()}", flush=True)
    return code


def _writer(ws: str, w: int, rounds: int, failures) -> None:
    """Round r adds ``w<w>-<r>``; every odd round also removes the entry it added the round before."""
    for r in range(rounds):
        if _cli("data", "add", f"w{w}-{r}", "--file", "demo_sft_train_data.json", "-w", ws) != 0:
            failures.put(f"add w{w}-{r}")
        if r % 2 == 1 and _cli("data", "remove", f"w{w}-{r - 1}", "-w", ws) != 0:
            failures.put(f"remove w{w}-{r - 1}")


def _reader(path: str, stop, torn) -> None:
    """Parse the registry as fast as possible; any read that is not a whole JSON object is a tear."""
    reads = 0
    while not stop.is_set():
        try:
            data = json.loads(Path(path).read_bytes())
            if not isinstance(data, dict):
                torn.put("not an object")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            torn.put(str(exc))
        reads += 1
    torn.put(("reads", reads))


def _expected(original: set[str], writers: int, rounds: int) -> set[str]:
    kept = {f"w{w}-{r}" for w in range(writers) for r in range(rounds) if r % 2 == 1 or r == rounds - 1}
    return original | kept


def _stress(ws_root: Path, writers: int, rounds: int) -> tuple[set[str], list, list]:
    ctx = mp.get_context("fork")
    failures, torn, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    reg_path = ws_root / "data" / "dataset_info.json"
    reader = ctx.Process(target=_reader, args=(str(reg_path), stop, torn))
    reader.start()
    procs = [ctx.Process(target=_writer, args=(str(ws_root), w, rounds, failures)) for w in range(writers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
        assert p.exitcode == 0
    stop.set()
    reader.join(timeout=30)
    tears, reads = [], 0
    while not torn.empty():
        item = torn.get()
        if isinstance(item, tuple):
            reads = item[1]
        else:
            tears.append(item)
    fails = []
    while not failures.empty():
        fails.append(failures.get())
    assert reads > 0, "the reader never read the registry"
    return set(json.loads(reg_path.read_text(encoding="utf-8"))), fails, tears


def test_four_writers_fifty_rounds_lose_nothing_and_never_tear(demo_ws):
    original = set(DatasetRegistry(demo_ws.registry_path).names())
    names, fails, tears = _stress(demo_ws.root, WRITERS, ROUNDS)
    assert fails == []
    assert tears == []
    assert names == _expected(original, WRITERS, ROUNDS)
    # every surviving entry is whole, and the backup is a complete earlier version
    reg = DatasetRegistry(demo_ws.registry_path)
    assert reg.error is None and all(reg.get(n).get("file_name") for n in names)
    assert isinstance(json.loads((demo_ws.data_dir / "dataset_info.json.bak").read_text(encoding="utf-8")), dict)


def test_writers_through_two_symlinks_share_the_target_and_its_lock(demo_ws, tmp_path):
    """Two workspaces whose registries link to one shared file: edits land in the target, none lost."""
    shared = tmp_path / "shared" / "dataset_info.json"
    shared.parent.mkdir()
    target_text = demo_ws.registry_path.read_text(encoding="utf-8")
    shared.write_text(target_text, encoding="utf-8")
    for name in ("demo_sft_train_data.json",):
        (shared.parent / name).write_bytes((demo_ws.data_dir / name).read_bytes())
    other = tmp_path / "other"
    (other / "data").mkdir(parents=True)
    (other / "data" / "demo_sft_train_data.json").write_bytes((demo_ws.data_dir / "demo_sft_train_data.json").read_bytes())
    for root in (demo_ws.root, other):
        link = root / "data" / "dataset_info.json"
        link.unlink(missing_ok=True)
        link.symlink_to(shared)
    ctx = mp.get_context("fork")
    failures = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(root), w, 10, failures))
             for w, root in enumerate((demo_ws.root, other))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert failures.empty()
    for root in (demo_ws.root, other):
        link = root / "data" / "dataset_info.json"
        assert link.is_symlink() and link.resolve() == shared.resolve()
    names = set(json.loads(shared.read_text(encoding="utf-8")))
    original = set(json.loads(target_text))
    assert names == _expected(original, 2, 10)
    assert (shared.parent / "dataset_info.json.bak").is_file()  # the backup sits beside the target
    assert not (demo_ws.data_dir / "dataset_info.json.bak").exists()


def test_symlinked_registry_edit_keeps_the_link(tmp_path):
    target = tmp_path / "real" / "dataset_info.json"
    target.parent.mkdir()
    target.write_text('{\n  "a": {"file_name": "a.json"}\n}\n', encoding="utf-8")
    link_dir = tmp_path / "ws" / "data"
    link_dir.mkdir(parents=True)
    (link_dir / "dataset_info.json").symlink_to(Path("..") / ".." / "real" / "dataset_info.json")
    reg = DatasetRegistry(link_dir / "dataset_info.json")
    reg.add("b", {"file_name": "b.json"})
    reg.remove("a")
    assert (link_dir / "dataset_info.json").is_symlink()
    assert json.loads(target.read_text(encoding="utf-8")) == {"b": {"file_name": "b.json"}}
    assert (tmp_path / "real" / ".dataset_info.json.lock").exists()
    assert not list(link_dir.glob("*.tmp")) and not list(target.parent.glob("*.tmp"))


def test_an_edit_rereads_the_file_under_the_lock(tmp_path):
    """A registry object loaded before another writer's edit does not overwrite that edit."""
    path = tmp_path / "dataset_info.json"
    path.write_text("{}\n", encoding="utf-8")
    stale = DatasetRegistry(path)
    DatasetRegistry(path).add("first", {"file_name": "1.json"})
    stale.add("second", {"file_name": "2.json"})
    assert list(json.loads(path.read_text(encoding="utf-8"))) == ["first", "second"]
    with pytest.raises(RegistryError, match="already registered"):
        stale.add("first", {"file_name": "x.json"})


def _hold_lock(path: str, ready, seconds: float) -> None:
    reg = DatasetRegistry(path)
    with reg.locked():
        ready.set()
        time.sleep(seconds)


def test_a_held_lock_makes_the_next_writer_wait_then_give_up_cleanly(tmp_path):
    path = tmp_path / "dataset_info.json"
    path.write_text('{"a": {"file_name": "a.json"}}', encoding="utf-8")
    before = path.read_bytes()
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(path), ready, 3.0))
    holder.start()
    assert ready.wait(30)
    reg = DatasetRegistry(path)
    started = time.monotonic()
    with pytest.raises(RegistryError, match="being edited by another program.*nothing was changed"):
        with reg.locked(timeout=0.5):
            pass
    assert 0.4 < time.monotonic() - started < 3.0
    assert path.read_bytes() == before
    reg.add("b", {"file_name": "b.json"})  # waits for the holder, then succeeds
    holder.join(10)
    assert set(json.loads(path.read_text(encoding="utf-8"))) == {"a", "b"}


def test_lock_is_beside_the_registry_and_needs_no_new_folder(tmp_path):
    path = tmp_path / "data" / "dataset_info.json"
    reg = DatasetRegistry(path)
    reg.add("a", {"file_name": "a.json"})
    assert reg.lock_path == tmp_path / "data" / ".dataset_info.json.lock"
    assert os.path.exists(reg.lock_path)
