"""Downloads against a loopback fake hub with the real ModelScope SDK. No test reaches the internet."""

from __future__ import annotations

import hashlib
import json
import os
import socket

import pytest

from medtui.core.data.detect import detect_entry, suggest
from medtui.core.errors import MedtuiError
from medtui.core.hub import download
from medtui.core.workspace import Workspace
from tests.conftest import medtui_cli
from tests.fakehub import FakeHub

BIG = 2_000_000
SFT_RECORDS = [{"instruction": f"问题{i}", "input": "", "output": f"回答{i}"} for i in range(30)]


def _files() -> dict[str, bytes]:
    rng = hashlib.sha256(b"seed").digest()
    big = (rng * (BIG // len(rng) + 1))[:BIG]
    return {"config.json": b'{"model_type": "qwen2"}', "model.safetensors": big,
            "tokenizer.json": b'{"version": "1.0"}', "docs/README.md": "说明".encode()}


@pytest.fixture
def hub():
    fake = FakeHub()
    fake.add("models", "qwen/Tiny-Model", _files())
    fake.add("datasets", "xiaofengalg/Chinese-medical-dialogue", {
        "data/train_0001_of_0001.json": json.dumps(SFT_RECORDS, ensure_ascii=False).encode(),
        "README.md": b"# dialogue\n"})
    fake.url = fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def ws(tmp_path) -> Workspace:
    ws = Workspace.open(tmp_path / "ws")
    ws.ensure_layout()
    (ws.data_dir / "dataset_info.json").write_text('{\n  "keep": {"file_name": "keep.json", "x_unknown": 1}\n}\n')
    return ws


@pytest.fixture
def sdk_env(tmp_path, hub) -> dict[str, str]:
    """Everything the SDK writes stays in tmp; the endpoint is the fake hub."""
    return {"MODELSCOPE_CACHE": str(tmp_path / "ms-cache"), "MODELSCOPE_HOME": str(tmp_path / "ms-home"),
            "MODELSCOPE_DOWNLOAD_INTRA_CLOUD": "false", "MODELSCOPE_ENDPOINT": hub.url, "TQDM_DISABLE": "1",
            "MODELSCOPE_REPO_TREE_PAGE_MAX_ATTEMPTS": "1"}


def _start(ws, sdk_env, repo="qwen/Tiny-Model", kind="model", **kw) -> download.Download:
    req = download.make_request(ws, kind, repo, **kw)
    return download.Download(req, env=download.worker_env(extra=sdk_env))


def _run(ws, sdk_env, **kw) -> download.DownloadState:
    job = _start(ws, sdk_env, **kw)
    try:
        for _ in job.events():
            pass
    finally:
        job.close()
    return job.state


def test_fresh_download_reports_progress_and_verifies(ws, sdk_env, hub):
    job = _start(ws, sdk_env)
    events = list(job.events())
    job.close()
    state = job.state
    assert state.status == "done", state.message
    dest = ws.models_dir / "Tiny-Model"
    for path, data in _files().items():
        assert (dest / path).read_bytes() == data
    assert not list(dest.rglob("*.incomplete"))
    assert state.total == sum(len(d) for d in _files().values()) == state.done
    plan = next(e for e in events if e["event"] == "plan")
    assert {f["path"] for f in plan["files"]} == set(_files())
    big = [e for e in events if e["event"] == "progress" and e["path"] == "model.safetensors"]
    assert big and big[-1]["bytes"] == BIG
    assert {e["path"] for e in events if e["event"] == "file_done"} == set(_files())
    assert state.fresh == state.total  # every byte came over the wire in this run
    assert len(hub.file_requests()) == len(_files())


def test_repeat_run_downloads_nothing(ws, sdk_env, hub):
    assert _run(ws, sdk_env).status == "done"
    hub.requests.clear()
    proc = medtui_cli("download", "model", "qwen/Tiny-Model", "--workspace", str(ws.root), env=sdk_env)
    assert proc.returncode == 0, proc.stderr
    assert "0 to fetch" in proc.stdout and "0 fetched, 4 already there" in proc.stdout
    assert hub.file_requests() == []  # listing only, no file bytes


def test_include_exclude_select_files(ws, sdk_env, hub):
    state = _run(ws, sdk_env, include=["*.json"], exclude=["tokenizer*"])
    assert state.status == "done"
    assert set(state.files) == {"config.json"}
    assert [p.name for p in (ws.models_dir / "Tiny-Model").rglob("*") if p.is_file()] == ["config.json"]


def test_kill_mid_file_then_resume_sends_range(ws, sdk_env, hub):
    hub.slow = {"model.safetensors": 400_000}  # bytes/s: ~5 s for the big file
    dest = ws.models_dir / "Tiny-Model"
    job = _start(ws, sdk_env)
    for event in job.events():
        if event["event"] == "progress" and event["path"] == "model.safetensors" and event["bytes"] > 300_000:
            job.kill()  # SIGKILL: no clean-up at all
            break
    job.close()
    partial = dest / "model.safetensors.incomplete"
    assert partial.is_file() and 0 < partial.stat().st_size < BIG
    assert not (dest / "model.safetensors").exists()
    on_disk = partial.stat().st_size

    hub.slow = {}
    hub.requests.clear()
    job = _start(ws, sdk_env)
    events = list(job.events())
    job.close()
    assert job.state.status == "done", job.state.message
    assert (dest / "model.safetensors").read_bytes() == _files()["model.safetensors"]
    assert f"bytes={on_disk}-" in hub.ranges()
    credit = [e for e in events if e["event"] == "progress" and e.get("credit")]
    assert credit and credit[0]["bytes"] == on_disk
    assert job.state.fresh == BIG - on_disk  # only the missing part was fetched


def test_cancel_stops_the_worker_and_keeps_the_partial_file(ws, sdk_env, hub):
    hub.slow = {"model.safetensors": 200_000}
    job = _start(ws, sdk_env)
    for event in job.events():
        if event["event"] == "progress" and event["path"] == "model.safetensors" and event["bytes"] > 0:
            job.cancel()
    job.close()
    assert job.state.status == "cancelled"
    assert "resume" in job.state.message
    assert job.returncode is not None and job.returncode != 0
    dest = ws.models_dir / "Tiny-Model"
    assert not (dest / "model.safetensors").exists()
    assert (dest / "model.safetensors.incomplete").is_file()


def test_unknown_id_is_a_clear_error(ws, sdk_env, hub):
    proc = medtui_cli("download", "model", "qwen/No-Such-Model", "--workspace", str(ws.root), env=sdk_env)
    assert proc.returncode == 2
    assert "model 'qwen/No-Such-Model' was not found on " + hub.url in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (ws.models_dir / "No-Such-Model").exists()


def test_server_error_is_a_clear_error(ws, sdk_env, hub):
    hub.fail_status = 500
    proc = medtui_cli("download", "model", "qwen/Tiny-Model", "--workspace", str(ws.root), env=sdk_env)
    assert proc.returncode == 1
    assert "server error (500)" in proc.stderr and "Traceback" not in proc.stderr


def test_no_network_is_a_clear_error(ws, sdk_env):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(sdk_env, MODELSCOPE_ENDPOINT=f"http://127.0.0.1:{port}")
    proc = medtui_cli("download", "model", "qwen/Tiny-Model", "--workspace", str(ws.root), env=env)
    assert proc.returncode == 1
    assert f"cannot reach http://127.0.0.1:{port}" in proc.stderr


def test_checksum_mismatch_rejects_the_file(ws, sdk_env, hub):
    hub.wrong_sha = {"tokenizer.json"}
    state = _run(ws, sdk_env)
    assert state.status == "failed" and state.error_kind == "integrity"
    assert "checksum mismatch for tokenizer.json" in state.message
    dest = ws.models_dir / "Tiny-Model"
    assert not (dest / "tokenizer.json").exists()
    assert (dest / "config.json").read_bytes() == _files()["config.json"]  # good files are kept
    assert set(state.failed) == {"tokenizer.json"}


def test_dataset_download_registers_detected_columns(ws, sdk_env, hub):
    before = (ws.data_dir / "dataset_info.json").read_text()
    offer = medtui_cli("download", "dataset", "xiaofengalg/Chinese-medical-dialogue", "--workspace", str(ws.root),
                       env=sdk_env)  # not a terminal: it says how to register and changes nothing
    assert offer.returncode == 0, offer.stderr
    assert ("to register Chinese-medical-dialogue/data/train_0001_of_0001.json (prompt=instruction, query=input, "
            "response=output): add --register") in offer.stdout
    assert (ws.data_dir / "dataset_info.json").read_text() == before
    proc = medtui_cli("download", "dataset", "xiaofengalg/Chinese-medical-dialogue", "--register",
                      "--name", "custom_sft_train_data", "--workspace", str(ws.root), env=sdk_env)
    assert proc.returncode == 0, proc.stderr
    info = json.loads((ws.data_dir / "dataset_info.json").read_text())
    assert info["custom_sft_train_data"] == {
        "file_name": "Chinese-medical-dialogue/data/train_0001_of_0001.json",
        "columns": {"prompt": "instruction", "query": "input", "response": "output"}}
    assert info["keep"] == {"file_name": "keep.json", "x_unknown": 1}
    assert (ws.data_dir / "dataset_info.json.bak").read_text() == before
    # a second run finds it registered and offers nothing
    again = medtui_cli("download", "dataset", "xiaofengalg/Chinese-medical-dialogue", "--workspace", str(ws.root),
                       env=sdk_env)
    assert again.returncode == 0
    assert "already registered as custom_sft_train_data" in again.stdout


def test_json_events_from_the_cli(ws, sdk_env, hub):
    proc = medtui_cli("download", "model", "qwen/Tiny-Model", "--include", "config.json", "--json",
                      "--workspace", str(ws.root), env=sdk_env)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [e["event"] for e in events][:2] == ["start", "plan"] and events[-1]["event"] == "done"


@pytest.mark.parametrize("args, message", [
    (["model", "Qwen2-0.5B"], "expected OWNER/NAME"),
    (["model", "qwen/../etc"], "not a hub id"),
    (["model", "qwen/Qwen2-0.5B", "--endpoint", "127.0.0.1:9"], "must start with http:// or https://"),
    (["model", "qwen/Qwen2-0.5B", "--include", ""], "pattern is empty"),
    (["model", "qwen/Qwen2-0.5B", "--name", "x"], "--name is for datasets"),
])
def test_bad_input_exits_2(ws, args, message):
    proc = medtui_cli("download", *args, "--workspace", str(ws.root), env={"MODELSCOPE_ENDPOINT": "http://127.0.0.1:9"})
    assert proc.returncode == 2
    assert message in proc.stderr


def test_request_honours_modelscope_endpoint(ws, monkeypatch):
    monkeypatch.setenv("MODELSCOPE_ENDPOINT", "http://mirror.example:8080/")
    req = download.make_request(ws, "model", "https://www.modelscope.cn/qwen/Qwen2-0.5B.git")
    assert req.repo_id == "qwen/Qwen2-0.5B" and req.endpoint == "http://mirror.example:8080"
    assert req.dest == ws.models_dir / "Qwen2-0.5B"
    assert download.make_request(ws, "dataset", "a/b", endpoint="https://x.y").dest == ws.data_dir / "b"
    with pytest.raises(MedtuiError):
        download.make_request(ws, "model", "a/b", hub="nope")


def test_state_speed_eta_and_resume_credit():
    state = download.DownloadState()
    state.apply({"event": "plan", "files": [{"path": "a", "size": 1000, "done": False},
                                             {"path": "b", "size": 500, "done": True}]}, now=0.0)
    assert state.total == 1500 and state.done == 500 and state.to_fetch == 1
    state.apply({"event": "file", "path": "a", "size": 1000, "resumed": 200}, now=0.0)
    state.apply({"event": "progress", "path": "a", "bytes": 200, "credit": True}, now=0.0)
    state.apply({"event": "progress", "path": "a", "bytes": 400, "credit": False}, now=1.0)
    state.apply({"event": "progress", "path": "a", "bytes": 600, "credit": False}, now=2.0)
    assert state.fresh == 400 and state.done == 1100
    assert state.speed == pytest.approx(200.0)
    assert state.eta == pytest.approx(2.0)
    assert "1.1 KiB / 1.5 KiB (73%)" in state.summary() and "ETA 2s" in state.summary()
    state.apply({"event": "progress", "path": "a", "bytes": 0, "credit": False}, now=3.0)  # server ignored Range
    assert state.files["a"].bytes == 0 and state.fresh == 400
    state.apply({"event": "error", "kind": "network", "message": "down"}, now=4.0)
    assert state.status == "failed" and state.eta is None


def test_detect_entry_shapes(tmp_path):
    assert detect_entry(SFT_RECORDS)[0] == {"columns": {"prompt": "instruction", "query": "input",
                                                          "response": "output"}}
    ranking = [{"instruction": "q", "input": "", "chosen": "a", "rejected": "b"}]
    assert detect_entry(ranking)[0] == {"columns": {"prompt": "instruction", "query": "input", "chosen": "chosen",
                                                      "rejected": "rejected"}, "ranking": True}
    sharegpt = [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}]
    assert detect_entry(sharegpt)[0] == {"formatting": "sharegpt", "columns": {"messages": "conversations"}}
    openai = [{"messages": [{"role": "user", "content": "hi"}]}]
    assert detect_entry(openai)[0]["tags"]["role_tag"] == "role"
    assert detect_entry([{"text": "doc"}])[0] == {"columns": {"prompt": "text"}}
    entry, note = detect_entry([{"a": 1}])
    assert entry is None and "unrecognised columns: a" in note
    folder = tmp_path / "data" / "ds"
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text('{"text": "x"}\n', encoding="utf-8")
    (folder / "broken.json").write_text('{"not": "an array"}', encoding="utf-8")
    found = {s.file.name: s for s in suggest(folder, tmp_path / "data", "ds")}
    assert found["train.jsonl"].entry == {"file_name": "ds/train.jsonl", "columns": {"prompt": "text"}}
    assert found["broken.json"].entry is None and "expected a JSON array" in found["broken.json"].note


def test_hugging_face_hub_offline_is_a_clear_error(ws):
    proc = medtui_cli("download", "model", "Qwen/Qwen2-0.5B", "--hub", "hf", "--workspace", str(ws.root),
                      env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 1
    assert "HF_HUB_OFFLINE is set, so the Hugging Face hub is not contacted" in proc.stderr
    assert not (ws.models_dir / "Qwen2-0.5B").exists()


def _wait(predicate, timeout=20.0):
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_ctrl_c_cancels_and_a_dead_cli_takes_its_worker_along(ws, sdk_env, hub):
    import signal
    import subprocess
    import sys

    import psutil

    from tests.conftest import ROOT, terminal_sigint

    hub.slow = {"model.safetensors": 200_000}
    partial = ws.models_dir / "Tiny-Model" / "model.safetensors.incomplete"
    env = dict(os.environ, PYTHONPATH=str(ROOT), **sdk_env)
    argv = [sys.executable, "-m", "medtui", "download", "model", "qwen/Tiny-Model", "--workspace", str(ws.root)]

    cli = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                           preexec_fn=terminal_sigint)
    _wait(lambda: partial.is_file() and partial.stat().st_size > 0)
    worker = psutil.Process(cli.pid).children()[0].pid
    cli.send_signal(signal.SIGINT)
    out, err = cli.communicate(timeout=20)
    assert cli.returncode == 130
    assert "cancelled; run the same command again to resume (models/Tiny-Model)" in err
    assert _gone(worker) and partial.is_file()

    cli = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _wait(lambda: psutil.Process(cli.pid).children())
    worker = psutil.Process(cli.pid).children()[0].pid
    cli.kill()
    cli.wait()
    _wait(lambda: _gone(worker), timeout=5)  # the worker notices its parent is gone


def test_terminal_user_is_asked_before_registering(ws, sdk_env, hub):
    """On a terminal the CLI asks; an answer other than y/n is the name to use."""
    import pty
    import sys

    from tests.conftest import ROOT

    env = dict(os.environ, PYTHONPATH=str(ROOT), **sdk_env)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real CLI on a pseudo-terminal
        os.execvpe(sys.executable, [sys.executable, "-m", "medtui", "download", "dataset",
                                    "xiaofengalg/Chinese-medical-dialogue", "--workspace", str(ws.root)], env)
    out, answered = b"", False
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if b"[y/N/name]" in out and not answered:
            os.write(fd, b"my_sft\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out.decode(errors="replace")
    assert answered
    info = json.loads((ws.data_dir / "dataset_info.json").read_text())
    assert info["my_sft"]["columns"] == {"prompt": "instruction", "query": "input", "response": "output"}


def test_hugging_face_hub_when_chosen(ws, tmp_path):
    from tests.fakehub import FakeHFHub

    hf = FakeHFHub()
    hf.repos["Qwen/Tiny"] = {"config.json": b'{"model_type": "qwen2"}', "model.safetensors": b"w" * 50_000}
    url = hf.start()
    try:
        env = {"HF_ENDPOINT": url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf-home")}
        args = ("download", "model", "Qwen/Tiny", "--hub", "hf", "--workspace", str(ws.root))
        first = medtui_cli(*args, env=env)
        assert first.returncode == 0, first.stderr
        assert (ws.models_dir / "Tiny" / "model.safetensors").read_bytes() == b"w" * 50_000
        assert "2 to fetch" in first.stdout and len(hf.downloads()) == 2
        again = medtui_cli(*args, env=env)
        assert again.returncode == 0 and "0 to fetch" in again.stdout
        assert len(hf.downloads()) == 2  # nothing fetched twice
        missing = medtui_cli("download", "model", "Qwen/Nope", "--hub", "hf", "--workspace", str(ws.root), env=env)
        assert missing.returncode == 2 and f"model 'Qwen/Nope' was not found on {url}" in missing.stderr
    finally:
        hf.stop()
