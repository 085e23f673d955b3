"""Tell the user a run ended (or went wrong) wherever they are: a terminal bell and a desktop
notification in any open medtui TUI, and a user hook. The supervisor sends them, so they fire with
no UI attached and survive a trainer that dies of OOM.

Settings live in ``notify.json``: one per user (``$XDG_CONFIG_HOME/medtui/``) and optionally one per
workspace (``.medtui/notify.json``), whose keys win::

    {"bell": true, "desktop": true, "alerts": true,
     "hook": ["/usr/local/bin/my-notifier", "--channel", "gpu"], "hook_timeout": 30,
     "hook_events": ["failed", "succeeded", "stopped"]}

* **TUI**: every open TUI listens on a Unix datagram socket in :func:`listeners_dir`; the supervisor
  sends each a JSON message, and the TUI rings the bell and writes OSC 777 / OSC 9 (desktop
  notifications that reach a local desktop through SSH in common terminals) between frames.
* **Hook**: ``hook`` is an argv (no shell), run with the run id, status and diagnosis in its
  environment (``MEDTUI_*``) and the whole event as JSON on stdin, killed after ``hook_timeout``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medtui.core import jsonfile
from medtui.core.atomic import atomic_write_text
from medtui.core.errors import MedtuiError
from medtui.core.userdirs import cache_dir, config_dir

FILE_NAME = "notify.json"
EVENTS = ("succeeded", "failed", "stopped")
DEFAULTS: dict[str, Any] = {"bell": True, "desktop": True, "alerts": True, "hook": None, "hook_timeout": 30,
                            "hook_events": list(EVENTS)}
OUTPUT_TAIL = 2000


# -- settings ---------------------------------------------------------------------------------
def user_path() -> Path:
    return config_dir() / FILE_NAME


def workspace_path(ws_root: str | os.PathLike) -> Path:
    return Path(ws_root) / ".medtui" / FILE_NAME


def _read(path: Path) -> dict[str, Any]:
    data = jsonfile.read_object(path)
    problem = settings_problem(data)
    if problem:
        raise MedtuiError(f"{path}: {problem}")
    return data


def settings_problem(data: dict[str, Any]) -> str | None:
    """Why ``data`` is not a valid notify.json, or None."""
    for key in ("bell", "desktop", "alerts"):
        if key in data and not isinstance(data[key], bool):
            return f"{key} must be true or false"
    hook = data.get("hook")
    if hook is not None and not (isinstance(hook, list) and hook and all(isinstance(a, str) and a for a in hook)):
        return "hook must be a list of strings (an argv, e.g. [\"notify-send\", \"medtui\"]) or null"
    timeout = data.get("hook_timeout", 30)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 3600:
        return "hook_timeout must be a number of seconds between 0 and 3600"
    events = data.get("hook_events", list(EVENTS))
    if not isinstance(events, list) or any(e not in EVENTS for e in events):
        return f"hook_events must be a list of {', '.join(EVENTS)}"
    return None


def load(ws_root: str | os.PathLike | None = None, *, strict: bool = False) -> dict[str, Any]:
    """The effective settings: defaults, then the user's file, then the workspace's. A broken file is
    skipped (the defaults apply) unless ``strict``."""
    merged = dict(DEFAULTS)
    for path in [user_path()] + ([workspace_path(ws_root)] if ws_root is not None else []):
        try:
            merged.update(_read(path))
        except MedtuiError:
            if strict:
                raise
    return merged


def save(values: dict[str, Any], *, ws_root: str | os.PathLike | None = None) -> Path:
    """Merge ``values`` (None removes a key) into the user's file, or the workspace's with ``ws_root``."""
    path = workspace_path(ws_root) if ws_root is not None else user_path()
    data = _read(path)  # a broken file is never overwritten
    for key, value in values.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    problem = settings_problem(data)
    if problem:
        raise MedtuiError(problem)
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return path


# -- events -----------------------------------------------------------------------------------
def run_event(record: dict[str, Any], event: str = "run_end") -> dict[str, Any]:
    """The JSON a hook reads on stdin for a run."""
    run = {k: record.get(k) for k in ("id", "stage", "kind", "status", "exit_code", "output_dir", "workspace",
                                      "started", "ended", "pipeline")}
    diagnosis = record.get("diagnosis")
    title = f"medtui: {record.get('stage', 'run')} {record.get('status', '')}".strip()
    body = f"{record.get('id')}"
    if isinstance(diagnosis, dict) and diagnosis.get("reason"):
        body += f": {diagnosis['reason']}"
    return {"event": event, "title": title, "body": body, "run": run, "diagnosis": diagnosis,
            "alerts": record.get("alerts") or [], "host": socket.gethostname(), "time": time.time()}


def hook_env(payload: dict[str, Any]) -> dict[str, str]:
    run = payload.get("run") or {}
    diagnosis = payload.get("diagnosis") or {}
    values = {"MEDTUI_EVENT": payload.get("event"), "MEDTUI_RUN_ID": run.get("id"),
              "MEDTUI_RUN_STATUS": run.get("status"), "MEDTUI_RUN_STAGE": run.get("stage"),
              "MEDTUI_EXIT_CODE": run.get("exit_code"), "MEDTUI_OUTPUT_DIR": run.get("output_dir"),
              "MEDTUI_WORKSPACE": run.get("workspace"), "MEDTUI_DIAGNOSIS": diagnosis.get("cause"),
              "MEDTUI_REASON": diagnosis.get("reason"), "MEDTUI_TITLE": payload.get("title"),
              "MEDTUI_BODY": payload.get("body")}
    return {k: str(v) for k, v in values.items() if v is not None}


@dataclass
class HookResult:
    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    error: str = ""  # could not start, or timed out
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.error

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None)} | {"returncode": self.returncode}


def run_hook(argv: list[str], payload: dict[str, Any], timeout: float = 30.0) -> HookResult:
    """Run the hook ``argv`` (no shell) with ``payload`` on stdin; its whole process group is killed
    after ``timeout`` seconds."""
    env = dict(os.environ, **hook_env(payload))
    started = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, start_new_session=True)
    except OSError as exc:
        return HookResult(None, error=f"could not start {argv[0]}: {exc.strerror or exc}")
    try:
        out, err = proc.communicate(json.dumps(payload, ensure_ascii=False).encode("utf-8"), timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        out, err = proc.communicate()
        return HookResult(proc.returncode, _tail(out), _tail(err), f"timed out after {timeout:g} s",
                          time.monotonic() - started)
    return HookResult(proc.returncode, _tail(out), _tail(err), "", time.monotonic() - started)


def _tail(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", "replace")[-OUTPUT_TAIL:]


# -- open TUIs --------------------------------------------------------------------------------
def listeners_dir() -> Path:
    """Where open TUIs put their sockets: per user, short enough for a socket path."""
    folder = cache_dir() / "listeners"
    if len(str(folder)) > 80:  # sockets paths are limited to about 107 bytes
        digest = hashlib.sha1(str(folder).encode()).hexdigest()[:12]
        folder = Path(tempfile.gettempdir()) / f"medtui-{os.getuid()}" / digest
    return folder


def listen() -> tuple[socket.socket, Path]:
    """A bound datagram socket for this process (the TUI); the caller closes it and unlinks the path."""
    folder = listeners_dir()
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    path = folder / f"{os.getpid()}-{secrets.token_hex(3)}.sock"  # one per app, even two in one process
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    return sock, path


def send_to_listeners(message: dict[str, Any]) -> int:
    """Send ``message`` to every open TUI; sockets nobody listens on are removed. Returns how many got it."""
    folder = listeners_dir()
    if not folder.is_dir():
        return 0
    data = json.dumps(message, ensure_ascii=False).encode("utf-8")[:60000]
    sent = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for path in folder.glob("*.sock"):
            try:
                sock.sendto(data, str(path))
                sent += 1
            except (ConnectionRefusedError, FileNotFoundError):
                try:
                    path.unlink()
                except OSError:
                    pass
            except OSError:
                continue
    return sent


def _clean(text: str, limit: int = 200) -> str:
    return "".join(ch for ch in str(text) if ch.isprintable()).replace(";", ",")[:limit]


def terminal_sequences(title: str, body: str, *, bell: bool = True, desktop: bool = True,
                       tmux: bool | None = None) -> str:
    """The bell and the OSC 777 / OSC 9 desktop notifications; inside tmux the OSCs are passed through."""
    out = "\a" if bell else ""
    if not desktop:
        return out
    title, body = _clean(title, 80), _clean(body)
    for seq in (f"\x1b]777;notify;{title};{body}\x1b\\", f"\x1b]9;{title}: {body}\x1b\\"):
        if tmux if tmux is not None else bool(os.environ.get("TMUX")):
            seq = "\x1bPtmux;" + seq.replace("\x1b", "\x1b\x1b") + "\x1b\\"
        out += seq
    return out


# -- what the supervisor calls ------------------------------------------------------------------
def run_ended(record: dict[str, Any]) -> dict[str, Any]:
    """Notify about a finished run: open TUIs, then the hook. Returns what was done (for run.json)."""
    settings = load(record.get("workspace"))
    payload = run_event(record)
    status = record.get("status")
    done: dict[str, Any] = {"at": time.time()}
    done["listeners"] = send_to_listeners({**payload, "bell": settings["bell"], "desktop": settings["desktop"],
                                           "urgent": status == "failed"})
    if settings.get("hook") and status in settings["hook_events"]:
        done["hook"] = run_hook(settings["hook"], payload, float(settings["hook_timeout"])).as_dict()
    return done


def alert_raised(record: dict[str, Any], alert: dict[str, Any]) -> int:
    """Tell open TUIs about an urgent alert (no hook: alerts are shown live, not pushed)."""
    settings = load(record.get("workspace"))
    if not settings["alerts"]:
        return 0
    title = f"medtui: {record.get('stage', 'run')} {alert.get('kind')}"
    return send_to_listeners({"event": "alert", "title": title, "body": f"{record.get('id')}: {alert.get('message')}",
                              "run": {"id": record.get("id"), "stage": record.get("stage")}, "alert": alert,
                              "bell": settings["bell"], "desktop": settings["desktop"], "urgent": True})
