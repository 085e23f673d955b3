"""Benchmarks: preparing the hub's layouts for llamafactory's evaluator, subjects, scores."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile

import pytest

from medtui.core import benchmark
from medtui.core.chat.models import ModelSource
from medtui.core.errors import MedtuiError
from medtui.core.workspace import Workspace


def _zip(path, files: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)


def _rows(folder, subject, split):
    return [json.loads(line) for line in (folder / "data" / subject / f"{split}.jsonl").read_text().splitlines()]


def test_cmmlu_zip_layout(tmp_path):
    """CMMLU: test/ and dev/ CSVs per subject with an index column and capitalised Question/Answer."""
    raw = tmp_path / "raw"
    raw.mkdir()
    csv_text = ",Question,A,B,C,D,Answer\n0,问一,甲,乙,丙,丁,B\n1,\"问,二\",甲,乙,丙,丁,D\n"
    _zip(raw / "cmmlu_v1_0_1.zip", {"test/anatomy.csv": csv_text, "dev/anatomy.csv": csv_text,
                                    "test/arts.csv": csv_text, "dev/arts.csv": csv_text})
    (raw / "mapping.json").write_text(json.dumps({"anatomy": {"name": "解剖学", "category": "STEM"}}))
    (raw / "test").mkdir()
    (raw / "test" / "anatomy.csv").write_text(csv_text)  # the archive's content, also extracted
    folder = tmp_path / "evaluation" / "cmmlu"
    assert benchmark.prepare(raw, folder, "cmmlu") == 2
    assert len(_rows(folder, "anatomy", "test")) == 2
    assert _rows(folder, "anatomy", "test")[1] == {"question": "问,二", "A": "甲", "B": "乙", "C": "丙", "D": "丁",
                                                   "answer": "D"}
    mapping = benchmark.read_mapping(folder)
    assert mapping["anatomy"] == {"name": "解剖学", "category": "STEM"} and mapping["arts"]["category"] == "Other"
    assert benchmark.is_prepared(folder) and "config_name: anatomy" in (folder / "README.md").read_text()


def test_ceval_and_mmlu_layouts(tmp_path):
    raw = tmp_path / "ceval"
    (raw / "val").mkdir(parents=True)
    (raw / "dev").mkdir()
    head = "id,question,A,B,C,D,answer,explanation\n"
    (raw / "val" / "physician_val.csv").write_text(head + "0,问,a,b,c,d,C,\n")
    (raw / "dev" / "physician_dev.csv").write_text(head + "0,例,a,b,c,d,A,因为\n")
    (raw / "subject_mapping.json").write_text(json.dumps({"physician": ["Physician", "医师资格", "Other"],
                                                          "basic_medicine": ["Basic Medicine", "基础医学", "STEM"]}))
    folder = tmp_path / "out" / "ceval"
    benchmark.prepare(raw, folder, "ceval")
    assert _rows(folder, "physician", "validation")[0]["answer"] == "C"
    assert _rows(folder, "physician", "train")[0]["question"] == "例"
    assert benchmark.read_mapping(folder) == {"physician": {"name": "医师资格", "category": "Other"}}

    raw = tmp_path / "mmlu"
    raw.mkdir()
    data = "What is x?,1,2,3,4,B\n"  # MMLU's CSVs have no header
    with tarfile.open(raw / "data.tar", "w") as tf:
        for name in ("data/test/anatomy_test.csv", "data/dev/anatomy_dev.csv"):
            info = tarfile.TarInfo(name)
            info.size = len(data.encode())
            tf.addfile(info, io.BytesIO(data.encode()))
    folder = tmp_path / "out" / "mmlu"
    benchmark.prepare(raw, folder, "mmlu")
    assert _rows(folder, "anatomy", "test") == [{"question": "What is x?", "A": "1", "B": "2", "C": "3", "D": "4",
                                                 "answer": "B"}]


def test_parquet_per_subject_layout(tmp_path):
    """The hub's parquet conversion: <subject>/<split>-00000-of-00001.parquet, answer as an index (MMLU)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    raw = tmp_path / "raw"
    for split in ("test", "dev"):
        (raw / "virology").mkdir(parents=True, exist_ok=True)
        table = pa.table({"question": ["q"], "A": ["a"], "B": ["b"], "C": ["c"], "D": ["d"], "answer": [2]})
        pq.write_table(table, raw / "virology" / f"{split}-00000-of-00001.parquet")
    folder = tmp_path / "mmlu"
    benchmark.prepare(raw, folder, "mmlu")
    assert _rows(folder, "virology", "test")[0]["answer"] == "C"


def test_nothing_usable_is_a_clear_error(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "README.md").write_text("nothing here")
    with pytest.raises(MedtuiError, match="no usable questions"):
        benchmark.prepare(raw, tmp_path / "cmmlu", "cmmlu")


@pytest.fixture
def tiny(tmp_path):
    folder = tmp_path / "evaluation" / "cmmlu"
    rows = {s: {"test": [{"question": f"{s}{i}", "A": "a", "B": "b", "C": "c", "D": "d", "answer": "ABCD"[i]}
                         for i in range(4)], "train": [{"question": "x", "A": "a", "B": "b", "C": "c", "D": "d",
                                                        "answer": "A"}]}
            for s in ("anatomy", "arts")}
    benchmark.write_task(folder, {"anatomy": {"name": "解剖学", "category": "STEM"},
                                  "arts": {"name": "艺术学", "category": "Humanities"}}, rows)
    return folder


def test_subjects_and_medical_choice(tiny):
    assert [s.key for s in benchmark.subjects("cmmlu", tiny)] == ["anatomy", "arts"]
    assert benchmark.choose_subjects("cmmlu", tiny, [], medical=True) == ["anatomy"]
    assert benchmark.choose_subjects("cmmlu", tiny, ["arts"]) == ["arts"]
    with pytest.raises(MedtuiError, match="no subject 'anatomi'; did you mean anatomy"):
        benchmark.choose_subjects("cmmlu", tiny, ["anatomi"])
    unprepared = benchmark.subjects("ceval", None)
    assert {"clinical_medicine", "basic_medicine", "physician"} <= {s.key for s in unprepared}
    with pytest.raises(MedtuiError, match="unknown benchmark"):
        benchmark.task("gsm8k")


def test_scores_against_the_answers(tiny, tmp_path):
    predictions = {"anatomy": {"0": "A", "1": "B", "2": "A", "3": "A"}, "arts": {"0": "B"}}
    scores = benchmark.subject_scores(tiny, predictions, "test")
    assert [(s.subject, s.correct, s.total) for s in scores] == [("anatomy", 2, 4), ("arts", 0, 4)]
    benchmark.write_results(tmp_path, scores, {"task": "cmmlu", "split": "test"})
    results = benchmark.read_results(tmp_path)
    assert results["average"] == 25.0
    table = benchmark.format_table(results)
    assert "anatomy" in table and "50.00" in table and "(medical)" in table.splitlines()[1]


def test_run_task_folder_holds_only_the_chosen_subjects(tiny, tmp_path):
    base = benchmark.run_task_folder(tiny, tmp_path / "run", "cmmlu", ["arts"])
    folder = base / "cmmlu"
    assert list(benchmark.read_mapping(folder)) == ["arts"]
    assert [c["config_name"] for c in benchmark._readme_configs(folder)] == ["arts"]
    assert (folder / "data" / "arts" / "test.jsonl").is_file()


def test_config_and_plan(tiny, tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    source = ModelSource("/m", ("/a1",))
    config = benchmark.bench_config(source, "ceval", template="fewshot", output_dir="saves/eval/x")
    assert config["task"] == "ceval_validation" and config["lang"] == "zh" and config["finetuning_type"] == "lora"
    with pytest.raises(MedtuiError, match="--split"):
        benchmark.bench_config(source, "cmmlu", template="fewshot", output_dir="o", split="train")
    plan = benchmark.bench_plan(config, ws, tiny, ["anatomy"])
    assert plan.argv[1:3] == ["-m", "medtui.workers.bench_eval"] and plan.kind == "benchmark"
    assert plan.yaml_config["save_dir"] == str(ws.root / "saves/eval/x/results")
    assert plan.yaml_config["task_dir"] == str(plan.run_dir / "task")
