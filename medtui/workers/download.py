"""The download process: ``python -m medtui.workers.download REQUEST_JSON``.

Runs the hub SDK's ``snapshot_download`` and prints JSON events on stdout, one per line:
``start``, ``plan`` (every file with its size and whether it is already complete), ``file``
(a transfer starts; ``resumed`` bytes were already on disk), ``progress`` (cumulative bytes of
one file, throttled), ``file_done``, then ``done`` or ``error`` (``kind``: not_found, network,
server, integrity, auth, failed, bad_input). Exit 0 done, 2 unknown repo or bad input, 1 else.
Cancel is terminating this process; the SDK resumes ``.incomplete`` files with a Range request.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

THROTTLE_S = 0.1
_out_lock = threading.Lock()


def emit(event: str, **fields: Any) -> None:
    line = json.dumps({"event": event, **fields}, ensure_ascii=False)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _watch_parent(parent: int) -> None:
    """Exit when the process that started us goes away (no orphaned downloads)."""
    while True:
        if os.getppid() != parent:
            os._exit(3)
        time.sleep(0.5)


def _matches(path: str, patterns: list[str]) -> bool:
    """The SDK's own pattern rule (fnmatch, plus legacy ``.*`` regex style)."""
    from fnmatch import fnmatch

    return any(fnmatch(path, p) or (".*" in p and fnmatch(path, p.replace(".*", "*"))) for p in patterns)


def select(files: list[dict], include: list[str], exclude: list[str]) -> list[dict]:
    return [f for f in files if (not include or _matches(f["path"], include))
            and not (exclude and _matches(f["path"], exclude))]


def _plan(files: list[dict], dest: Path) -> list[dict]:
    out = []
    for f in files:
        target = dest / f["path"]
        done = target.is_file() and f["size"] is not None and target.stat().st_size == f["size"]
        out.append({"path": f["path"], "size": f["size"], "done": done})
    return out


def make_callback(dest: Path, base):
    """A ProgressCallback subclass that turns the SDK's per-file updates into events."""

    class Reporter(base):
        def __init__(self, filename: str, file_size: int):
            super().__init__(filename, file_size)
            partial = dest / (filename + ".incomplete")
            self.resumed = partial.stat().st_size if partial.is_file() else 0
            self.bytes = 0
            self.first = True
            self.last = 0.0
            emit("file", path=filename, size=file_size, resumed=self.resumed)

        def update(self, size: int) -> None:
            self.bytes += size
            credit = self.first and self.resumed and size == self.resumed
            self.first = False
            now = time.monotonic()
            if credit or size < 0 or now - self.last >= THROTTLE_S:
                self.last = now
                emit("progress", path=self.filename, bytes=self.bytes, credit=bool(credit))

        def end(self) -> None:
            emit("progress", path=self.filename, bytes=self.bytes, credit=False)
            emit("file_done", path=self.filename)

    return Reporter


# -- ModelScope -----------------------------------------------------------------------------
def _modelscope_sdk():
    """The light modelscope_hub entry points when present (0.4 s import), else modelscope's."""
    try:
        from modelscope_hub import ProgressCallback
        from modelscope_hub.compat.snapshot_download import snapshot_download
    except ImportError:
        from modelscope.hub.callback import ProgressCallback
        from modelscope.hub.snapshot_download import snapshot_download
    return snapshot_download, ProgressCallback


def _modelscope_listing(req: dict) -> tuple[list[dict], str | None]:
    repo_type = "dataset" if req["kind"] == "dataset" else "model"
    try:
        from modelscope_hub.api import HubApi
    except ImportError:
        from modelscope.hub.api import HubApi
    api = HubApi(endpoint=req.get("endpoint"))
    endpoint = req.get("endpoint")
    if endpoint is None:
        try:
            endpoint = api.resolve_endpoint_for_read(req["repo_id"], repo_type=repo_type)
            api = HubApi(endpoint=endpoint)
        except Exception:
            endpoint = None
    raw = api.list_repo_files(req["repo_id"], repo_type, revision=req.get("revision") or "master")
    files = [{"path": f.path, "size": f.size} for f in raw if getattr(f, "type", "blob") != "tree" and f.path]
    return files, endpoint


def run_modelscope(req: dict, dest: Path) -> str:
    snapshot_download, base = _modelscope_sdk()
    files, endpoint = _modelscope_listing(req)
    wanted = select(files, req.get("include") or [], req.get("exclude") or [])
    emit("plan", files=_plan(wanted, dest), endpoint=endpoint)
    dest.mkdir(parents=True, exist_ok=True)
    path = snapshot_download(
        req["repo_id"], revision=req.get("revision"), local_dir=str(dest),
        allow_patterns=req.get("include") or None, ignore_patterns=req.get("exclude") or None,
        repo_type="dataset" if req["kind"] == "dataset" else "model", endpoint=endpoint,
        progress_callbacks=[make_callback(dest, base)], max_workers=int(req.get("max_workers") or 4))
    bad = [f["path"] for f in wanted if f["size"] is not None and (dest / f["path"]).is_file()
           and (dest / f["path"]).stat().st_size != f["size"]]
    if bad:
        raise RuntimeError(f"size differs from the hub listing: {', '.join(bad)}")
    return str(path)


# -- Hugging Face -----------------------------------------------------------------------------
def run_huggingface(req: dict, dest: Path) -> str:
    from huggingface_hub import snapshot_download

    repo_type = "dataset" if req["kind"] == "dataset" else "model"
    common = dict(repo_id=req["repo_id"], repo_type=repo_type, revision=req.get("revision"), local_dir=str(dest),
                  allow_patterns=req.get("include") or None, ignore_patterns=req.get("exclude") or None,
                  endpoint=req.get("endpoint"))
    dry = snapshot_download(dry_run=True, **common)
    plan = [{"path": f.filename, "size": f.file_size, "done": not f.will_download} for f in dry]
    emit("plan", files=plan, endpoint=req.get("endpoint"))
    dest.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    threading.Thread(target=_poll_sizes, args=(dest, [p for p in plan if not p["done"]], stop), daemon=True).start()
    try:
        path = snapshot_download(**common)
    finally:
        stop.set()
    for p in plan:
        if not p["done"]:
            emit("progress", path=p["path"], bytes=p["size"] or 0, credit=False)
            emit("file_done", path=p["path"])
    return str(path)


def _hf_partial_glob(dest: Path, filename: str) -> tuple[Path, str]:
    """Where huggingface_hub keeps a file's partial download in a local_dir: ``{sha1 b64}.{etag}.incomplete``."""
    import base64
    import hashlib

    from huggingface_hub._local_folder import get_local_download_paths

    meta = get_local_download_paths(dest, filename).metadata_path
    short = base64.urlsafe_b64encode(hashlib.sha1(meta.name.encode()).digest()).decode()
    return meta.parent, f"{short}.*.incomplete"


def _poll_sizes(dest: Path, pending: list[dict], stop: threading.Event) -> None:
    """huggingface_hub reports no bytes per file, so read them off the disk."""
    started: set[str] = set()
    while not stop.wait(0.5):
        for p in pending:
            target = dest / p["path"]
            try:
                folder, pattern = _hf_partial_glob(dest, p["path"])
                partials = list(folder.glob(pattern))
            except (ImportError, OSError):
                partials = []
            size = target.stat().st_size if target.is_file() else sum(f.stat().st_size for f in partials)
            if size and p["path"] not in started:
                started.add(p["path"])
                emit("file", path=p["path"], size=p["size"], resumed=0)
            if size:
                emit("progress", path=p["path"], bytes=size, credit=False)


# -- errors -----------------------------------------------------------------------------------
def _status(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    if code is None:
        response = getattr(exc, "response", None)
        code = getattr(response, "status_code", None)
    cause = exc.__cause__
    if code is None and cause is not None and cause is not exc:
        return _status(cause)
    return code


def _headline(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return message.strip().splitlines()[0] if message.strip() else type(exc).__name__


def classify(exc: BaseException, req: dict, endpoint: str) -> tuple[str, str, dict[str, str]]:
    """(kind, message, failed files) for an exception from the SDK."""
    what = f"{req['kind']} '{req['repo_id']}'"
    names: set[str] = set()
    link: BaseException | None = exc
    for _ in range(5):  # the error and what caused it (huggingface_hub wraps a 404 in DryRunError)
        if link is None:
            break
        names |= {c.__name__ for c in type(link).__mro__}
        link = link.__cause__ or link.__context__
    failed = getattr(exc, "failed_files", None)
    if failed:
        files = {path: _headline(err) for path, err in failed.items()}
        integrity = [p for p, err in failed.items() if "FileIntegrityError" in {c.__name__ for c in type(err).__mro__}]
        if integrity:
            return ("integrity", f"checksum mismatch for {', '.join(integrity)}: the hub's sha256 does not match "
                                 "the bytes received, so the file was rejected and not saved", files)
        return "failed", f"{len(files)} file(s) of {what} failed: " + "; ".join(f"{p}: {m}" for p, m in files.items()), files
    status = _status(exc)
    if req.get("hub") == "hf" and os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return "network", "HF_HUB_OFFLINE is set, so the Hugging Face hub is not contacted (unset it to download)", {}
    if {"RepositoryNotFoundError", "RevisionNotFoundError", "EntryNotFoundError"} & names:
        return "not_found", f"{what} was not found on {endpoint} (check the id and revision)", {}
    if "GatedRepoError" in names:
        return "auth", f"{what} is gated on {endpoint}: accept its terms and log in (hf auth login)", {}
    if {"DryRunError", "OfflineModeIsEnabled", "LocalEntryNotFoundError"} & names:
        return "network", f"cannot reach {endpoint} for {what} (check the network, HF_ENDPOINT or --endpoint)", {}
    if "NotExistError" in names or status == 404:
        rev = f" at revision '{req['revision']}'" if req.get("revision") else ""
        return "not_found", f"{what}{rev} was not found on {endpoint} (check the id, e.g. qwen/Qwen2-0.5B)", {}
    if {"AuthenticationError", "PermissionDeniedError"} & names or status in (401, 403):
        return "auth", f"access to {what} was denied by {endpoint} (private or gated repo; log in first)", {}
    if "ServerError" in names or (status is not None and status >= 500):
        return "server", f"{endpoint} answered with a server error ({status or '5xx'}) for {what}; try again later", {}
    if {"NetworkError", "ConnectionError", "Timeout", "RequestTimeoutError"} & names:
        return "network", f"cannot reach {endpoint}: {_headline(exc)[:200]} (check the network or --endpoint)", {}
    return "failed", f"download of {what} failed: {type(exc).__name__}: {_headline(exc)[:300]}", {}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m medtui.workers.download REQUEST_JSON", file=sys.stderr)
        return 2
    req = json.loads(argv[0])
    dest = Path(req["dest"])
    threading.Thread(target=_watch_parent, args=(int(req.get("parent") or os.getppid()),), daemon=True).start()
    logging.getLogger("modelscope_hub").setLevel(logging.ERROR)
    hub = req.get("hub", "modelscope")
    endpoint = req.get("endpoint") or ("https://huggingface.co" if hub == "hf" else "the ModelScope hub")
    emit("start", hub=hub, kind=req["kind"], repo_id=req["repo_id"], dest=str(dest), endpoint=endpoint)
    existed = dest.exists()
    try:
        path = run_huggingface(req, dest) if hub == "hf" else run_modelscope(req, dest)
    except KeyboardInterrupt:
        emit("error", kind="cancelled", message="cancelled", failed={})
        return 130
    except Exception as exc:
        kind, message, failed = classify(exc, req, endpoint)
        if not existed and dest.is_dir() and not any(dest.iterdir()):
            dest.rmdir()  # leave no empty models/<name> behind an unknown id
        emit("error", kind=kind, message=message, failed=failed)
        return 2 if kind == "not_found" else 1
    emit("done", path=path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
