"""The reliability suite for bad input: every case gives one clear line, the right exit code
(0 ok, 1 failed, 2 bad input), no traceback, and changes no file of the workspace.

Cases are grouped by the categories of issue 11 plus ones of our own (``invented``). Run this file
as a script (``python tests/cli/test_reliability_inputs.py``) to print the closing-note table.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reliability import assert_clear, cli, digest  # noqa: E402

SFT = ("stage: sft\nmodel_name_or_path: models/workflow-demo-tiny-qwen2\ndataset: demo_sft_train_data\n"
       "template: qwen\nfinetuning_type: lora\noutput_dir: saves/rel\nnum_train_epochs: 1\n")


@dataclass
class Case:
    category: str
    name: str
    argv: list[str]
    code: int
    message: str
    setup: Callable[[Path], None] = field(default=lambda ws: None)
    max_lines: int = 3

    @property
    def id(self) -> str:
        return f"{self.category}/{self.name}"


def registry(obj) -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        raw = obj if isinstance(obj, bytes) else (obj if isinstance(obj, str) else json.dumps(obj)).encode()
        (ws / "data" / "dataset_info.json").write_bytes(raw)
    return setup


def both(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        for s in setups:
            s(ws)
    return setup


def config(text: str = SFT, name: str = "t.yaml") -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        (ws / name).write_text(text, encoding="utf-8")
    return setup


def write(rel: str, data: bytes | str) -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        p = ws / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return setup


def folder(rel: str) -> Callable[[Path], None]:
    return lambda ws: (ws / rel).mkdir(parents=True, exist_ok=True)


OK_ENTRY = {"file_name": "demo_sft_train_data.json"}
BAD_ENTRIES = registry({"a": [1, 2], "b": {"file_name": 5}, "c": "text", "d": {**OK_ENTRY, "columns": ["x"]},
                        "e": {**OK_ENTRY, "formatting": "weird"}, "f": {**OK_ENTRY, "columns": {"prompt": 3}},
                        "demo_sft_train_data": OK_ENTRY})


def run_folders(ws: Path) -> None:
    runs = ws / ".medtui" / "runs"
    good = {"id": "20261128-100000-sft-aaaa", "stage": "sft", "kind": "train", "status": "succeeded",
            "output_dir": str(ws / "saves" / "sft"), "started": 1.8e9, "ended": 1.8e9 + 60, "exit_code": 0}
    bad = {
        "b-list": "[1, 2]",
        "b-empty-object": "{}",
        "b-string-time": json.dumps({"id": "b-string-time", "started": "yesterday", "status": "running"}),
        "b-huge-numbers": '{"id": "b-huge-numbers", "output_dir": "o", "started": 1e999, "ended": -1e400, '
                          '"pid": 123456789012345678, "exit_code": 1e30, "status": "running", "config": "x"}',
        "b-nul": "\x00\x00\x00",
        "b-not-utf8": b"\xff\xfe{",
        "b-types": json.dumps({"id": 5, "stage": ["sft"], "status": 7, "output_dir": 9, "config": "x", "pid": "12"}),
        "b-deep": "[" * 50000 + "]" * 50000,
        "b-truncated": json.dumps(good)[:40],
    }
    (runs / good["id"]).mkdir(parents=True)
    (runs / good["id"] / "run.json").write_text(json.dumps(good))
    (runs / good["id"] / "stdout.log").write_text("hello from the good run\n")
    for name, content in bad.items():
        (runs / name).mkdir()
        (runs / name / "run.json").write_bytes(content if isinstance(content, bytes) else content.encode())
    (runs / "b-folder-record").mkdir()
    (runs / "b-folder-record" / "run.json").mkdir()
    (runs / "no-record-yet").mkdir()
    (runs / "no-record-yet" / "config.yaml").write_text("stage: sft\n")
    (runs / "a-stray-file").write_text("not a run")
    (runs / "b-dangling").mkdir()
    (runs / "b-dangling" / "run.json").symlink_to(runs / "nowhere.json")


W = ["-w", "{ws}"]
CASES: list[Case] = [
    # -- registry entries that are not objects, or whose fields have the wrong type --------------------------
    Case("registry-entries", "list shows the rest", ["data", "list", *W], 0, r"^a: bad entry: the entry must be a JSON "
         r"object, found a list", BAD_ENTRIES, max_lines=6),
    Case("registry-entries", "list --json", ["data", "list", "--json", *W], 0, r'"problem": "file_name must be a '
         r'string', BAD_ENTRIES, max_lines=6),
    Case("registry-entries", "validate a list entry", ["data", "validate", "a", "--stage", "sft", *W], 2,
         r"dataset 'a' .*must be a JSON object, found a list", BAD_ENTRIES),
    Case("registry-entries", "validate a number file_name", ["data", "validate", "b", "--stage", "sft", *W], 2,
         r"file_name must be a string, found a number", BAD_ENTRIES),
    Case("registry-entries", "preview a string entry", ["data", "preview", "c", *W], 2,
         r"dataset 'c' .*found a string", BAD_ENTRIES),
    Case("registry-entries", "stats with list columns", ["data", "stats", "d", *W], 2,
         r"columns must be a JSON object, found a list", BAD_ENTRIES),
    Case("registry-entries", "validate an unknown formatting", ["data", "validate", "e", "--stage", "sft", *W], 2,
         r"formatting must be alpaca, sharegpt or openai", BAD_ENTRIES),
    Case("registry-entries", "stats with a number column", ["data", "stats", "f", *W], 2,
         r"columns.prompt must be a string", BAD_ENTRIES),
    Case("registry-entries", "train dry-run on it", ["train", "{ws}/t.yaml", "--set", "dataset=b", "--dry-run", *W], 2,
         r"file_name must be a string", both(BAD_ENTRIES, config())),
    Case("registry-entries", "train on it", ["train", "{ws}/t.yaml", "--set", "dataset=a", "--detach", *W], 2,
         r"must be a JSON object", both(BAD_ENTRIES, config())),
    Case("registry-entries", "add beside bad ones", ["data", "add", "c", "--file", "demo_sft_train_data.json", *W], 2,
         r"'c' is already registered", BAD_ENTRIES),
    # -- registry files that cannot be edited (invented) -----------------------------------------------------
    Case("registry-file", "valid JSON, not an object", ["data", "add", "x", "--file", "demo_sft_train_data.json", *W],
         2, r"top level must be a JSON object, found list.*left untouched", registry("[1, 2]")),
    Case("registry-file", "a folder", ["data", "list", *W], 2, r"dataset_info.json: is a folder",
         lambda ws: ((ws / "data" / "dataset_info.json").unlink(), (ws / "data" / "dataset_info.json").mkdir())),
    Case("registry-file", "NUL bytes", ["data", "remove", "demo_sft_train_data", *W], 2, r"invalid JSON.*left untouched",
         registry(b'{"a": \x00}')),
    Case("registry-file", "not UTF-8", ["data", "list", *W], 2, r"not UTF-8 text", registry(b'{"a": "\xff"}')),
    Case("registry-file", "empty file", ["data", "add", "x", "--file", "demo_sft_train_data.json", *W], 2,
         r"invalid JSON.*left untouched", registry(b"")),
    Case("registry-file", "nested 50000 deep", ["data", "list", *W], 2, r"nested too deeply",
         registry("[" * 50000 + "]" * 50000)),
    Case("registry-file", "truncated", ["train", "{ws}/t.yaml", "--dry-run", *W], 2, r"invalid JSON",
         both(registry('{"demo_sft_train_data": {"file_name": "demo_sft'), config())),
    # -- malformed run records: `medtui runs` shows every good run and names the bad ones ----------------------
    Case("run-records", "runs lists the good run", ["runs", *W], 0, r"20261128-100000-sft-aaaa .*succeeded",
         run_folders, max_lines=12),
    Case("run-records", "runs names the bad ones", ["runs", *W], 0, r"warning: skipped .*b-list/run.json: "
         r"unreadable run record \(not a JSON object\)",
         run_folders, max_lines=12),
    Case("run-records", "runs --json", ["runs", "--json", *W], 0, r'"status": "succeeded"', run_folders,
         max_lines=12),
    Case("run-records", "logs latest", ["logs", "latest", *W], 0, r"hello from the good run", run_folders),
    Case("run-records", "logs of a record with wrong types", ["logs", "b-types", *W], 2, r"no run matches 'b-types'",
         run_folders),
    Case("run-records", "stop a record with a string time", ["stop", "b-string-time", *W], 2,
         r"no run matches 'b-string-time'", run_folders),
    Case("run-records", "stop a record with huge numbers", ["stop", "b-huge-numbers", *W], 2,
         r"is not running", run_folders),
    Case("run-records", "logs of an unreadable record", ["logs", "b-list", *W], 2, r"no run matches 'b-list'",
         run_folders),
    # -- an output folder that is a file (or lies under one) ------------------------------------------------
    Case("output-is-a-file", "train", ["train", "{ws}/t.yaml", "--detach", *W], 2,
         r"output_dir: .*saves/rel is a file, not a folder", both(config(), write("saves/rel", "x"))),
    Case("output-is-a-file", "train dry-run", ["train", "{ws}/t.yaml", "--dry-run", *W], 2,
         r"saves/rel is a file, not a folder", both(config(), write("saves/rel", "x"))),
    Case("output-is-a-file", "under a file", ["train", "{ws}/t.yaml", "--set", "output_dir=saves/rel/sub", *W], 2,
         r"saves/rel/sub cannot be created: .*saves/rel is a file", both(config(), write("saves/rel", "x"))),
    Case("output-is-a-file", "export", ["export", "--model", "models/workflow-demo-tiny-qwen2", "--out", "saves/rel",
                                        "--detach", *W], 2, r"export_dir: .*is a file, not a folder",
         write("saves/rel", "x")),
    Case("output-is-a-file", "predict", ["predict", "models/workflow-demo-tiny-qwen2", "--dataset",
                                         "demo_sft_train_data", "--out", "saves/rel", *W], 2,
         r"output_dir: .*is a file, not a folder", write("saves/rel", "x")),
    # -- --set values that are not YAML ------------------------------------------------------------------------
    *[Case("set-invalid-yaml", value, ["train", "{ws}/t.yaml", "--set", value, "--dry-run", *W], 2,
           r"--set \w+: .* is not a valid YAML value", config())
      for value in ("dataset=[unclosed", "x={a", 'x="unterminated', "x=a: b: c", "x=*alias",
                    "x=!!python/object/apply:os.system [ls]", "x=@at", "x=%percent")],
    Case("set-invalid-yaml", "no equals sign", ["train", "{ws}/t.yaml", "--set", "x: {", "--dry-run", *W], 2,
         r"--set expects KEY=VALUE", config()),
    # -- stats of an empty dataset -----------------------------------------------------------------------------
    Case("empty-dataset-stats", "empty array", ["data", "stats", "e", *W], 0, r"the dataset has no records",
         both(write("data/e.json", "[]"), registry({"e": {"file_name": "e.json"}}))),
    Case("empty-dataset-stats", "array of whitespace", ["data", "stats", "e", *W], 0, r"no records",
         both(write("data/e.json", " [ \n\n ] \n"), registry({"e": {"file_name": "e.json"}}))),
    Case("empty-dataset-stats", "stats --json", ["data", "stats", "e", "--json", *W], 0, r'"records": 0',
         both(write("data/e.json", "[]"), registry({"e": {"file_name": "e.json"}}))),
    Case("empty-dataset-stats", "blank jsonl", ["data", "stats", "e", *W], 2, r"e.jsonl: the file is empty",
         both(write("data/e.jsonl", "\n\n  \n"), registry({"e": {"file_name": "e.jsonl"}}))),
    Case("empty-dataset-stats", "validate it", ["data", "validate", "e", "--stage", "sft", *W], 1, r"",
         both(write("data/e.json", "[]"), registry({"e": {"file_name": "e.json"}}))),
    # -- our own: what else a user's files or arguments could look like ----------------------------------------
    Case("invented", "workspace is a file", ["data", "list", "-w", "{ws}/t.yaml"], 2,
         r"workspace .*t.yaml is a file, not a folder", config()),
    Case("invented", "workspace missing", ["runs", "-w", "{ws}/nowhere"], 2, r"workspace folder not found"),
    Case("invented", "workspace with a NUL", ["runs", "-w", "{ws}/a\x00b"], 2, r"cannot contain a NUL byte"),
    Case("invented", "data file is a pipe", ["data", "add", "p", "--file", "pipe.json", *W], 2,
         r"not a regular file or folder", lambda ws: os.mkfifo(ws / "data" / "pipe.json")),
    Case("invented", "data file is /dev/null", ["data", "add", "p", "--file", "/dev/null", *W], 2,
         r"/dev/null: not a regular file"),
    Case("invented", "data folder without data", ["data", "add", "p", "--file", "dir", *W], 2,
         r"holds no .json or .jsonl files", write("data/dir/readme.txt", "hi")),
    Case("invented", "data nested 100000 deep", ["data", "add", "p", "--file", "deep.json", *W], 2,
         r"nested too deeply", write("data/deep.json", "[" + "[" * 100000 + "]" * 100000 + "]")),
    Case("invented", "data file not JSON", ["data", "add", "p", "--file", "bin.json", *W], 2,
         r"invalid JSON: expected '\['", write("data/bin.json", b"\x00\xff garbage")),
    Case("invented", "name with a newline", ["data", "add", "a\nb", "--file", "demo_sft_train_data.json", *W], 2,
         r"contains a control character"),
    Case("invented", "name with a comma", ["data", "add", "a,b", "--file", "demo_sft_train_data.json", *W], 2,
         r"contains a comma"),
    Case("invented", "blank name", ["data", "add", "  ", "--file", "demo_sft_train_data.json", *W], 2,
         r"must be a non-empty string"),
    # a folder is read as a LlamaBoard output folder (issue 14); one without its files is refused in one line
    Case("invented", "config is a folder", ["train", "{ws}/c.yaml", *W], 2,
         r"holds neither training_args.yaml nor llamaboard_config.yaml", folder("c.yaml")),
    Case("invented", "config with NUL", ["train", "{ws}/t.yaml", *W], 2, r"invalid YAML: special characters",
         write("t.yaml", b"stage: sft\x00\n")),
    Case("invented", "config not UTF-8", ["train", "{ws}/t.yaml", *W], 2, r"not UTF-8 text",
         write("t.yaml", b"stage: \xff\n")),
    Case("invented", "config is a list", ["train", "{ws}/t.yaml", *W], 2, r"expected a mapping.*found list",
         write("t.yaml", "- 1\n- 2\n")),
    Case("invented", "config empty", ["train", "{ws}/t.yaml", *W], 2, r"the file is empty", write("t.yaml", "")),
    Case("invented", "infinite epochs", ["train", "{ws}/t.yaml", "--set", "num_train_epochs=1e999", *W], 2,
         r"num_train_epochs: must be a finite number", config()),
    Case("invented", "NaN learning rate", ["train", "{ws}/t.yaml", "--set", "learning_rate=.nan", *W], 2,
         r"learning_rate: must be a finite number", config()),
    Case("invented", "huge batch size", ["train", "{ws}/t.yaml", "--set", "cutoff_len=0", *W], 2,
         r"cutoff_len", config()),
    Case("invented", "export size 0", ["export", "--model", "models/workflow-demo-tiny-qwen2", "--out", "saves/e",
                                       "--size", "0", *W], 2, r"--size must be at least 1"),
    Case("invented", "stop timeout negative", ["stop", "latest", "--timeout", "-1", *W], 2,
         r"--timeout must be 0 or more"),
    Case("invented", "stop timeout nan", ["stop", "latest", "--timeout", "nan", *W], 2, r"--timeout must be 0 or more"),
    Case("invented", "pipeline --only empty", ["pipeline", "demo", "--only", ",", *W], 2, r"--only names no stage"),
    Case("invented", "pipeline file is a folder", ["pipeline", "{ws}/p", *W], 2, r"pipeline not found", folder("p")),
    Case("invented", "pipeline stages not a list", ["pipeline", "{ws}/p.yaml", *W], 2, r"non-empty 'stages' list",
         write("p.yaml", "stages: 5\n")),
    Case("invented", "pipeline invalid YAML", ["pipeline", "{ws}/p.yaml", *W], 2, r"invalid pipeline file at line",
         write("p.yaml", "stages: [\n")),
    Case("invented", "preview far past the end", ["data", "preview", "demo_sft_train_data", "--start", "10" * 12, *W],
         0, r"no record 1010101010"),
    Case("invented", "preview huge count", ["data", "preview", "demo_sft_train_data", "--count", "9" * 30, *W], 0,
         r"record 0"),
    Case("invented", "negative cutoff", ["data", "validate", "demo_sft_train_data", "--stage", "sft", "--cutoff-len",
                                         "-4", *W], 2, r"--cutoff-len must be 1 or more"),
]


@pytest.fixture
def case_ws(demo_template, tmp_path):
    from conftest import copy_ws

    return copy_ws(demo_template, tmp_path / "ws").root


def run_case(case: Case, ws: Path):
    case.setup(ws)
    before = digest(ws)
    result = cli(*[a.replace("{ws}", str(ws)) for a in case.argv])
    return result, before, digest(ws)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_line_and_changes_nothing(case, case_ws):
    result, before, after = run_case(case, case_ws)
    assert_clear(result, case.code, case.message, max_lines=case.max_lines)
    assert after == before


def test_every_category_has_several_cases():
    counts: dict[str, int] = {}
    for c in CASES:
        counts[c.category] = counts.get(c.category, 0) + 1
    assert all(n >= 4 for n in counts.values()), counts


def table(ws_factory) -> list[tuple[str, int, int, int, int]]:
    """(category, cases, clear messages, tracebacks, cases that changed files), by running every case."""
    rows: dict[str, list[int]] = {}
    for case in CASES:
        result, before, after = run_case(case, ws_factory())
        row = rows.setdefault(case.category, [0, 0, 0, 0])
        row[0] += 1
        try:
            assert_clear(result, case.code, case.message, max_lines=case.max_lines)
            row[1] += 1
        except AssertionError:
            pass
        row[2] += "Traceback" in result.err or "internal error" in result.err
        row[3] += after != before
    return [(k, *v) for k, v in rows.items()]


if __name__ == "__main__":
    import shutil
    import tempfile

    from medtui.core.demo import init_demo

    base = Path(tempfile.mkdtemp(prefix="medtui-reliability-"))
    template = init_demo(base / "template").root
    n = iter(range(10**6))

    def fresh() -> Path:
        dest = base / f"ws{next(n)}"
        shutil.copytree(template, dest, ignore=shutil.ignore_patterns(".medtui"))
        return dest

    print("| category | cases | clear messages | tracebacks | files changed |")
    print("|---|---|---|---|---|")
    for row in table(fresh):
        print("| " + " | ".join(str(x) for x in row) + " |")
    shutil.rmtree(base, ignore_errors=True)
