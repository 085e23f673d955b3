"""Incremental log readers: only new records, partial lines, truncation, re-creation."""

from __future__ import annotations

import json
import os

from medtui.core.runs.follow import JsonlTail, RunReader, TextTail
from medtui.core.runs.progress import Progress, format_seconds, parse_hms, smooth


def rec(step, total=10, **extra):
    base = {"current_steps": step, "total_steps": total, "loss": 2.0 / step, "lr": 1e-4, "epoch": step / total,
            "percentage": step * 100 / total, "elapsed_time": f"0:00:{step:02d}", "remaining_time": "0:01:05"}
    base.update(extra)
    return json.dumps(base) + "\n"


def test_returns_only_new_records(tmp_path):
    path = tmp_path / "trainer_log.jsonl"
    tail = JsonlTail(path)
    assert tail.read_new() == []  # not created yet
    path.write_text(rec(1) + rec(2))
    assert [r["current_steps"] for r in tail.read_new()] == [1, 2]
    assert tail.read_new() == []
    with open(path, "a") as fh:
        fh.write(rec(3))
    assert [r["current_steps"] for r in tail.read_new()] == [3]


def test_partial_last_line_waits_for_its_newline(tmp_path):
    path = tmp_path / "trainer_log.jsonl"
    line = rec(1)
    path.write_text(line[:20])
    tail = JsonlTail(path)
    assert tail.read_new() == []
    with open(path, "a") as fh:
        fh.write(line[20:] + rec(2)[:5])
    assert [r["current_steps"] for r in tail.read_new()] == [1]
    with open(path, "a") as fh:
        fh.write(rec(2)[5:])
    assert [r["current_steps"] for r in tail.read_new()] == [2]


def test_truncated_file_is_read_again_and_flagged(tmp_path):
    path = tmp_path / "trainer_log.jsonl"
    path.write_text(rec(1) + rec(2) + rec(3))
    tail = JsonlTail(path)
    assert len(tail.read_new()) == 3 and not tail.reset
    path.write_text(rec(1))  # overwrite_output_dir restarts the log
    assert [r["current_steps"] for r in tail.read_new()] == [1]
    assert tail.reset


def test_recreated_file_with_new_inode(tmp_path):
    path = tmp_path / "trainer_log.jsonl"
    path.write_text(rec(1))
    tail = JsonlTail(path)
    tail.read_new()
    os.unlink(path)
    assert tail.read_new() == [] and tail.reset
    tmp = tmp_path / "new"
    tmp.write_text(rec(1) + rec(2) + rec(3))
    os.replace(tmp, path)
    assert [r["current_steps"] for r in tail.read_new()] == [1, 2, 3]


def test_bad_lines_are_skipped_not_fatal(tmp_path):
    path = tmp_path / "trainer_log.jsonl"
    path.write_text(rec(1) + "{broken\n" + "[1, 2]\n" + rec(2))
    assert [r["current_steps"] for r in JsonlTail(path).read_new()] == [1, 2]


def test_progress_folds_metrics_eta_and_throughput(tmp_path):
    path = tmp_path / "trainer_log.jsonl"
    path.write_text(rec(1, throughput=1234.5) + rec(2, eval_loss=0.9, accuracy=0.75) + rec(4, reward=0.3))
    reader = RunReader(path)
    reader.poll()
    p = reader.progress
    assert (p.steps, p.total_steps, p.percent) == (4, 10, 40.0)
    assert p.eta == 65 and p.elapsed == 4 and p.throughput == 1234.5
    assert p.series["loss"] == ([1, 2, 4], [2.0, 1.0, 0.5])
    assert p.series["eval_loss"] == ([2], [0.9])
    assert p.last["accuracy"] == 0.75 and p.last["reward"] == 0.3
    line = p.line()
    assert "step 4/10" in line and "ETA 1:05" in line and "1234 tok/s" in line


def test_reader_resets_its_history_when_the_log_restarts(tmp_path):
    path = tmp_path / "trainer_log.jsonl"
    path.write_text(rec(1) + rec(2))
    reader = RunReader(path)
    reader.poll()
    path.write_text(rec(1))
    reader.poll()
    assert reader.progress.series["loss"][0] == [1]


def test_text_tail_decodes_leniently(tmp_path):
    path = tmp_path / "stdout.log"
    path.write_bytes("第一行\n".encode() + b"bad \xff byte\npartial")
    tail = TextTail(path)
    assert tail.read_new() == ["第一行", "bad \ufffd byte"]


def test_helpers():
    assert parse_hms("1:02:03") == 3723 and parse_hms("1 day, 0:00:10") == 86410 and parse_hms("x") is None
    assert format_seconds(3723) == "1:02:03" and format_seconds(65) == "1:05" and format_seconds(None) == "?"
    values = [5.0, 1.0, 5.0, 1.0]
    smoothed = smooth(values)
    assert len(smoothed) == 4 and max(smoothed) - min(smoothed) < max(values) - min(values)
    assert Progress().line().startswith("step 0/?")


def test_large_backlog_is_sampled_then_followed_incrementally(tmp_path):
    path = tmp_path / "trainer_log.jsonl"
    path.write_text("".join(rec(s, total=5000) for s in range(1, 5001)) + rec(5001, total=5000)[:15])
    reader = RunReader(path)
    reader.SAMPLE_ABOVE, reader.SAMPLES, reader.TAIL_BYTES = 10_000, 50, 20_000
    first = reader.poll()
    p = reader.progress
    assert p.sampled and p.steps == 5000 and p.total_steps == 5000
    xs = p.series["loss"][0]
    assert xs == sorted(xs) and xs[-1] == 5000 and len(set(xs)) == len(xs)
    assert 50 < len(xs) < 5000 and len(first) == len(xs)
    tail_steps = xs[-50:]
    assert tail_steps == list(range(4951, 5001))  # the tail is complete
    with open(path, "a") as fh:
        fh.write(rec(5001, total=5000)[15:] + rec(5002, total=5000))
    assert [r["current_steps"] for r in reader.poll()] == [5001, 5002]
    assert reader.progress.steps == 5002
