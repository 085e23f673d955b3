"""Helpers of the reliability suite: run the CLI and check it gave one clear line, the right exit
code, no traceback, and changed nothing; digest a folder; run commands on a real full or
read-only file system inside a user+mount namespace (``unshare -rm``) when the machine allows it."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Folders medtui may write while reading (record-index caches); never user files.
CACHE_PARTS = (".medtui/cache",)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def message_lines(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if ln.strip()]


def cli(*argv: str) -> Result:
    """``medtui ARGV`` in this process (the real parser and commands; a fraction of a subprocess's cost)."""
    from medtui.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return Result(code, out.getvalue(), err.getvalue())


def digest(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its type and content hash (symlinks by target); caches left out."""
    out: dict[str, str] = {}
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if any(rel_dir == c or rel_dir.startswith(c + os.sep) for c in CACHE_PARTS):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if os.path.islink(path):
                out[rel] = "link:" + os.readlink(path)
            elif os.path.isdir(path):
                out[rel] = "dir"
            elif os.path.isfile(path):
                with open(path, "rb") as fh:
                    out[rel] = hashlib.sha1(fh.read()).hexdigest()
            else:
                out[rel] = "special"
    return out


def assert_clear(result: Result, code: int, message: str, *, max_lines: int = 3) -> None:
    """Exit ``code``; one line (stderr, or stdout for a success) matching ``message``; at most ``max_lines``
    lines on stderr; no traceback and no internal error."""
    assert "Traceback" not in result.err + result.out, result.err
    assert "internal error" not in result.err, result.err
    assert result.code == code, (result.code, result.err, result.out[-500:])
    lines = result.message_lines() + ([ln for ln in result.out.splitlines() if ln.strip()] if code == 0 else [])
    if message:
        hits = [ln for ln in lines if re.search(message, ln)]
        assert hits, f"no line matches {message!r}:\n{result.err}\n{result.out[-1000:]}"
    assert len(result.message_lines()) <= max_lines, result.err


# -- real full / read-only file systems ------------------------------------------------------
def sandbox_available() -> bool:
    if not shutil.which("unshare") or not shutil.which("mount"):
        return False
    try:
        probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt 2>/dev/null "
                                "|| mount -t tmpfs -o size=64k tmpfs /tmp"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


SANDBOX_DRIVER = r"""
import json, os, shutil, subprocess, sys
sys.path.insert(0, os.environ["MEDTUI_TESTS"])
from reliability import digest
spec = json.loads(sys.argv[1])
mnt = spec["mount"]
os.makedirs(mnt, exist_ok=True)
if spec["mode"] == "full":
    opts = f"size={spec['size']},nr_inodes={spec['inodes']}"
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", mnt], check=True)
    shutil.copytree(spec["ws"], os.path.join(mnt, "ws"), symlinks=True)
    ws = os.path.join(mnt, "ws")
    i = 0
    while True:  # fill every block, then every inode
        try:
            with open(os.path.join(mnt, f"fill{i}"), "wb") as fh:
                fh.write(b"\0" * (1 << 16))
            i += 1
        except OSError:
            break
    for j in range(spec["inodes"]):
        try:
            open(os.path.join(mnt, f"f{j}"), "wb").close()
        except OSError:
            break
else:
    ws = spec["ws"]
    subprocess.run(["mount", "--bind", ws, ws], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", ws], check=True)
before = digest(ws)
results = []
for argv in spec["commands"]:
    argv = [a.replace("{ws}", ws) for a in argv]
    p = subprocess.run([sys.executable, "-m", "medtui", *argv], capture_output=True, text=True, timeout=300)
    results.append({"argv": argv, "code": p.returncode, "out": p.stdout, "err": p.stderr})
print(json.dumps({"before": before, "after": digest(ws), "results": results}))
"""


def in_sandbox(mode: str, ws: Path, commands: list[list[str]], *, size: str = "4m", inodes: int = 400,
               timeout: float = 600) -> dict:
    """Run ``commands`` (``{ws}`` is replaced by the workspace path) with the workspace on a full tmpfs
    (``mode="full"``) or bind-mounted read-only (``mode="ro"``), as root of a private user+mount namespace.
    Returns the workspace digests before and after, and each command's code and output."""
    spec = {"mode": mode, "ws": str(ws), "size": size, "inodes": inodes, "mount": str(Path(ws).parent / "mnt"), "commands": commands}
    env = dict(os.environ, PYTHONPATH=str(ROOT), MEDTUI_TESTS=str(ROOT / "tests"))
    proc = subprocess.run(["unshare", "-rm", sys.executable, "-c", SANDBOX_DRIVER, json.dumps(spec)],
                          capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
