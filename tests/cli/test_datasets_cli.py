"""``medtui data ...`` through the real CLI in a subprocess."""

from __future__ import annotations

import json

import pytest

from tests.conftest import medtui_cli

MODEL = "models/workflow-demo-tiny-qwen2"


def test_list_shows_every_entry_with_counts_and_stages(demo_ws):
    proc = medtui_cli("data", "list", "--workspace", str(demo_ws.root))
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()[1:]}
    assert "27" in lines["custom_pt_train_data"] and "pt,ppo" in lines["custom_pt_train_data"]
    assert "MISSING" in lines["custom_sft_train_data"]
    assert "rm,dpo" in lines["custom_rlhf_train_data"] and " 19 " in lines["custom_rlhf_train_data"]
    proc = medtui_cli("data", "list", "--json", "--workspace", str(demo_ws.root))
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["demo_kto_train_data"]["records"] == 38 and "kto" in rows["demo_kto_train_data"]["stages"]


def test_preview_pages_and_json(demo_ws):
    proc = medtui_cli("data", "preview", "custom_rlhf_train_data", "--start", "17", "--count", "5", "--json",
                      "--workspace", str(demo_ws.root))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    records = json.loads((demo_ws.data_dir / "custom_rlhf_train_data.json").read_text(encoding="utf-8"))
    assert [r["index"] for r in out["records"]] == [17, 18]
    assert [r["record"] for r in out["records"]] == records[17:19]
    text = medtui_cli("data", "preview", "data/custom_pt_train_data.json", "--count", "1",
                      "--workspace", str(demo_ws.root))
    assert text.returncode == 0 and "── record 0 ──" in text.stdout and "头痛" in text.stdout


def test_validate_exit_codes(demo_ws):
    ok = medtui_cli("data", "validate", "demo_kto_train_data", "--stage", "kto", "--workspace", str(demo_ws.root))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = medtui_cli("data", "validate", "custom_pt_train_data", "--stage", "dpo", "--workspace",
                     str(demo_ws.root))
    assert bad.returncode == 1 and "Ranking mismatch" in bad.stdout
    tok = medtui_cli("data", "validate", "demo_kto_train_data", "--stage", "kto", "--model", MODEL,
                     "--cutoff-len", "5", "--json", "--workspace", str(demo_ws.root))
    report = json.loads(tok.stdout)
    assert tok.returncode == 0 and any(f["kind"] == "too_long" and f["count"] > 0 for f in report["findings"])


def test_stats_prints_lengths_and_histogram(demo_ws):
    proc = medtui_cli("data", "stats", "custom_rlhf_train_data", "--model", MODEL, "--workspace",
                      str(demo_ws.root))
    assert proc.returncode == 0, proc.stderr
    assert "records: 19" in proc.stdout and "record length (tokens):" in proc.stdout and "█" in proc.stdout


def test_add_then_remove_restores_the_registry_bytes(demo_ws):
    original = demo_ws.registry_path.read_bytes()
    proc = medtui_cli("data", "add", "mine", "--file", "custom_rlhf_train_data.json", "--workspace",
                      str(demo_ws.root))
    assert proc.returncode == 0, proc.stderr
    entry = demo_ws.registry().get("mine")
    assert entry == {"file_name": "custom_rlhf_train_data.json", "ranking": True,
                     "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen",
                                 "rejected": "rejected"}}
    assert "rm, dpo" in proc.stdout
    explicit = medtui_cli("data", "add", "mine2", "--file", str(demo_ws.data_dir / "custom_pt_train_data.json"),
                          "--column", "prompt=text", "--workspace", str(demo_ws.root))
    assert explicit.returncode == 0 and demo_ws.registry().get("mine2")["columns"] == {"prompt": "text"}
    for name in ("mine", "mine2"):
        assert medtui_cli("data", "remove", name, "--workspace", str(demo_ws.root)).returncode == 0
    assert demo_ws.registry_path.read_bytes() == original


@pytest.mark.parametrize("args, message", [
    (("data", "preview", "nope"), "neither a registered dataset nor a file"),
    (("data", "preview", "custom_sft_train_data"), "train_0001_of_0001.json: file not found"),
    (("data", "validate", "nope", "--stage", "sft"), "'nope' is not registered"),
    (("data", "validate", "demo_sft_train_data", "--stage", "sft", "--model", "models/none"), "model folder not found"),
    (("data", "add", "demo_sft_train_data", "--file", "demo_sft_train_data.json"), "already registered"),
    (("data", "add", "x", "--file", "missing.json"), "data file not found"),
    (("data", "add", "x", "--file", "custom_pt_train_data.json", "--column", "prompt=nope"), "not a key"),
    (("data", "add", "x", "--file", "custom_pt_train_data.json", "--column", "bogus=text"), "not a column role"),
    (("data", "remove", "nope"), "'nope' is not registered"),
    (("data", "list", "--workspace", "/nonexistent/ws"), "workspace folder not found"),
])
def test_bad_input_exits_2_with_a_message(demo_ws, args, message):
    before = demo_ws.registry_path.read_bytes()
    proc = medtui_cli(*args, *(() if "--workspace" in args else ("--workspace", str(demo_ws.root))))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert demo_ws.registry_path.read_bytes() == before


@pytest.mark.parametrize("name, raw, message", [
    ("invalid.json", b'[{"a": 1}\n {"b": 2}]', "line 2, column 2: invalid JSON"),
    ("lines.jsonl", b'{"a": 1}\n"text"\n', "line 2, column 1: expected a JSON object"),
    ("latin1.json", b'[{"a": "caf\xe9"}]', "not UTF-8"),
    ("object.json", b'{\n "a": [1]\n}', "expected a JSON array"),
    ("empty.json", b"", "the file is empty"),
])
def test_malformed_files_exit_2_naming_the_file(demo_ws, name, raw, message):
    (demo_ws.data_dir / name).write_bytes(raw)
    proc = medtui_cli("data", "preview", f"data/{name}", "--workspace", str(demo_ws.root))
    assert proc.returncode == 2 and message in proc.stderr and name in proc.stderr


def test_malformed_registry_is_reported_and_untouched(demo_ws):
    demo_ws.registry_path.write_text('{"a": {"file_name": "a.json"},}')
    before = demo_ws.registry_path.read_bytes()
    for args in (("data", "list"), ("data", "add", "x", "--file", "custom_pt_train_data.json"),
                 ("data", "remove", "a")):
        proc = medtui_cli(*args, "--workspace", str(demo_ws.root))
        assert proc.returncode == 2 and "line 1, column 31" in proc.stderr, proc.stderr
    assert demo_ws.registry_path.read_bytes() == before


def _sft_records(ws) -> list[dict]:
    return json.loads((ws.data_dir / "demo_sft_train_data.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", ["bom", "types", "ranking", "sharegpt", "truncated"])
def test_add_refuses_what_the_trainer_cannot_read(demo_ws, case):
    records = _sft_records(demo_ws)
    text = json.dumps(records, ensure_ascii=False).encode()
    extra: list[str] = []
    needle = {"bom": "medtui data fix-bom new.json", "types": "'output' (response) must be a string, found a number",
              "ranking": "KeyError: None", "sharegpt": "look like alpaca records", "truncated": "line 1"}[case]
    if case == "bom":
        text = b"\xef\xbb\xbf" + text
    elif case == "types":
        records[3]["output"] = 42
        text = json.dumps(records, ensure_ascii=False).encode()
    elif case == "truncated":
        text = text[:-25]
    elif case == "ranking":
        extra = ["--ranking"]
    else:
        extra = ["--formatting", "sharegpt"]
    (demo_ws.data_dir / "new.json").write_bytes(text)
    before = demo_ws.registry_path.read_bytes()
    proc = medtui_cli("data", "add", "new", "--file", "new.json", *extra, "--workspace", str(demo_ws.root))
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert demo_ws.registry_path.read_bytes() == before


def test_fix_bom_rewrites_the_file_and_then_it_is_accepted(demo_ws, tmp_path):
    original = (demo_ws.data_dir / "demo_sft_train_data.json").read_bytes()
    target = demo_ws.data_dir / "demo_sft_train_data.json"
    target.write_bytes(b"\xef\xbb\xbf" + original)
    target.chmod(0o640)
    bad = medtui_cli("data", "validate", "demo_sft_train_data", "--stage", "sft", "--workspace", str(demo_ws.root))
    assert bad.returncode == 1 and "medtui data fix-bom demo_sft_train_data" in bad.stdout
    fixed = medtui_cli("data", "fix-bom", "demo_sft_train_data", "--workspace", str(demo_ws.root))
    assert fixed.returncode == 0 and "removed the UTF-8 byte order mark" in fixed.stdout, fixed.stderr
    assert target.read_bytes() == original and (target.stat().st_mode & 0o777) == 0o640
    assert not [p for p in demo_ws.data_dir.iterdir() if p.name.endswith(".tmp")]
    again = medtui_cli("data", "fix-bom", "demo_sft_train_data", "--workspace", str(demo_ws.root))
    assert again.returncode == 0 and "nothing to do" in again.stdout
    ok = medtui_cli("data", "validate", "demo_sft_train_data", "--stage", "sft", "--workspace", str(demo_ws.root))
    assert ok.returncode == 0, ok.stdout
