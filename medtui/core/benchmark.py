"""Multiple-choice benchmarks (CMMLU, C-Eval, MMLU) run with llamafactory's own evaluator.

llamafactory 0.9.5 keeps its ``Evaluator`` (``llamafactory/eval/evaluator.py``) but ships no
benchmark data, and ``llamafactory-cli eval`` only raises "will be deprecated". The evaluator
reads ``<task_dir>/<task>/mapping.json`` (subject -> name, category) and loads each subject with
``datasets.load_dataset(<task_dir>/<task>, name=subject)``, taking the few-shot examples from the
``train`` split and the questions from the split in ``task`` (``cmmlu_test``). medtui keeps a
benchmark in that layout, which ``datasets`` reads without a loading script::

    evaluation/<task>/mapping.json
    evaluation/<task>/README.md                      (one config per subject, naming its files)
    evaluation/<task>/data/<subject>/<split>.jsonl   ({question, A, B, C, D, answer} per line)

:func:`prepare` builds it from the files a hub download holds (the benchmarks' own CSV layouts,
zip/tar archives, or parquet per subject); :func:`write_task` builds it from rows (tests use a
tiny one). A run (:func:`bench_plan`) gets its own task folder with only the chosen subjects; its
worker (:mod:`medtui.workers.bench_eval`) writes progress to ``trainer_log.jsonl`` and, at the end,
``bench_results.json`` with the accuracy of every subject (:func:`subject_scores`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

from medtui.core import jsonfile
from medtui.core.errors import MedtuiError
from medtui.core.workspace import Workspace

CHOICES = ("A", "B", "C", "D")
CATEGORIES = ("STEM", "Social Sciences", "Humanities", "Other")  # llamafactory's SUBJECTS, less "Average"
SPLITS = ("test", "validation", "train")
RESULTS_FILE = "bench_results.json"
RESULTS_SUBDIR = "results"  # llamafactory's save_dir: it must not exist before the run
TASK_SUBDIR = "task"
ROW_KEYS = ("question", *CHOICES, "answer")


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    lang: str  # llamafactory's eval template: en | zh
    split: str  # the split with answers that is scored
    modelscope: str
    hf: str
    medical: tuple[str, ...]


TASKS = {
    "cmmlu": Task("cmmlu", "CMMLU", "zh", "test", "modelscope/cmmlu", "haonan-li/cmmlu",
                  ("anatomy", "clinical_knowledge", "college_medical_statistics", "college_medicine", "genetics",
                   "nutrition", "professional_medicine", "traditional_chinese_medicine", "virology")),
    "ceval": Task("ceval", "C-Eval", "zh", "validation", "modelscope/ceval-exam", "ceval/ceval-exam",
                  ("basic_medicine", "clinical_medicine", "physician", "veterinary_medicine")),
    "mmlu": Task("mmlu", "MMLU", "en", "test", "modelscope/mmlu", "cais/mmlu",
                 ("anatomy", "clinical_knowledge", "college_medicine", "medical_genetics", "nutrition",
                  "professional_medicine", "virology")),
}


def task(name: str) -> Task:
    if name not in TASKS:
        raise MedtuiError(f"unknown benchmark {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]


def task_folder(ws: Workspace, name: str, task_dir: str | os.PathLike | None = None) -> Path:
    """Where a benchmark lives: ``<task_dir or workspace/evaluation>/<name>``."""
    base = ws.resolve(task_dir) if task_dir else ws.root / "evaluation"
    return base / name


def is_prepared(folder: Path) -> bool:
    return (folder / "mapping.json").is_file() and (folder / "README.md").is_file()


@dataclass(frozen=True)
class Subject:
    key: str
    name: str
    category: str
    medical: bool


def read_mapping(folder: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads((folder / "mapping.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MedtuiError(f"no mapping.json in {folder}; is the benchmark prepared?") from None
    except (OSError, ValueError) as exc:
        raise MedtuiError(f"{folder / 'mapping.json'}: unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise MedtuiError(f"{folder / 'mapping.json'}: expected an object of subject -> {{name, category}}")
    return data


def subjects(name: str, folder: Path | None = None) -> list[Subject]:
    """The benchmark's subjects: all of them from a prepared folder, else the medical ones medtui knows."""
    t = task(name)
    if folder is not None and is_prepared(folder):
        mapping = read_mapping(folder)
        return [Subject(k, str(v.get("name", k)), str(v.get("category", "Other")), k in t.medical)
                for k, v in mapping.items()]
    return [Subject(k, k.replace("_", " "), "Other", True) for k in t.medical]


def choose_subjects(name: str, folder: Path, wanted: Iterable[str] | None, *, medical: bool = False) -> list[str]:
    """The subjects a run uses: ``wanted`` (checked), the medical ones, or all. Bad names raise MedtuiError."""
    known = [s.key for s in subjects(name, folder)]
    if medical:
        return [k for k in known if k in task(name).medical]
    wanted = [w.strip() for w in (wanted or []) if w and w.strip()]
    if not wanted:
        return known
    from medtui.core.env.llamafactory_source import suggest

    for w in wanted:
        if w not in known:
            near = suggest(w, known)
            raise MedtuiError(f"{name} has no subject {w!r}" + (f"; did you mean {', '.join(near)}?" if near else
                                                               f"; list them with: medtui eval --task {name} --list"))
    return wanted


# -- writing the layout ---------------------------------------------------------------------------
def _row(raw: dict[str, Any]) -> dict[str, str] | None:
    """One question in llamafactory's shape, from the benchmarks' column spellings; None if unusable."""
    lower = {str(k).strip().lower(): v for k, v in raw.items()}
    question = lower.get("question")
    answer = lower.get("answer")
    if question is None or any(raw.get(c, lower.get(c.lower())) is None for c in CHOICES):
        return None
    row = {"question": str(question)}
    for c in CHOICES:
        row[c] = str(raw.get(c, lower.get(c.lower())))
    if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < len(CHOICES):
        answer = CHOICES[answer]  # MMLU's parquet stores the index
    row["answer"] = str(answer or "").strip().upper()
    return row


def write_task(folder: Path, mapping: dict[str, dict[str, str]], rows: dict[str, dict[str, list[dict]]]) -> None:
    """Write a benchmark folder: ``rows[subject][split]`` lists of question rows, ``mapping`` their names."""
    from medtui.core.atomic import atomic_write_text

    configs = []
    for subject in mapping:
        splits = rows.get(subject) or {}
        files = []
        for split in SPLITS:
            items = [r for r in (_row(x) for x in splits.get(split) or []) if r is not None]
            if not items:
                continue
            path = folder / "data" / subject / f"{split}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items))
            files.append({"split": split, "path": f"data/{subject}/{split}.jsonl"})
        if files:
            configs.append({"config_name": subject, "data_files": files})
    if not configs:
        raise MedtuiError(f"no usable questions for {folder.name} (columns question, A-D, answer)")
    kept = {c["config_name"] for c in configs}
    atomic_write_text(folder / "mapping.json",
                      json.dumps({k: v for k, v in mapping.items() if k in kept}, ensure_ascii=False, indent=2) + "\n")
    atomic_write_text(folder / "README.md", _readme(configs, folder.name))


def _readme(configs: list[dict], title: str) -> str:
    header = yaml.safe_dump({"configs": configs}, sort_keys=False, allow_unicode=True)
    return f"---\n{header}---\n\n# {title}\n\nPrepared by medtui for llamafactory's evaluator (one config per subject).\n"


def run_task_folder(source: Path, run_dir: Path, name: str, chosen: list[str]) -> Path:
    """A task folder for one run holding only ``chosen`` subjects; its data links to ``source``'s."""
    base = run_dir / TASK_SUBDIR
    folder = base / name
    folder.mkdir(parents=True, exist_ok=True)
    mapping = read_mapping(source)
    configs = [c for c in _readme_configs(source) if c.get("config_name") in chosen]
    from medtui.core.atomic import atomic_write_text

    atomic_write_text(folder / "mapping.json",
                      json.dumps({k: mapping[k] for k in chosen if k in mapping}, ensure_ascii=False, indent=2) + "\n")
    atomic_write_text(folder / "README.md", _readme(configs, name))
    link = folder / "data"
    if not link.exists():
        try:
            link.symlink_to((source / "data").resolve(), target_is_directory=True)
        except OSError:
            import shutil

            for subject in chosen:
                shutil.copytree(source / "data" / subject, link / subject)
    return base


def _readme_configs(folder: Path) -> list[dict]:
    text = (folder / "README.md").read_text(encoding="utf-8")
    parts = text.split("---")
    try:
        meta = yaml.safe_load(parts[1]) if len(parts) > 2 else None
    except yaml.YAMLError:
        meta = None
    if not isinstance(meta, dict) or not isinstance(meta.get("configs"), list):
        raise MedtuiError(f"{folder / 'README.md'}: no configs list; prepare the benchmark again")
    return meta["configs"]


# -- preparing a hub download ---------------------------------------------------------------------
_SPLIT_NAMES = {"test": "test", "val": "validation", "validation": "validation", "dev": "train", "train": "train"}


def _split_of(parts: tuple[str, ...], stem: str) -> tuple[str | None, str]:
    """(split, subject) from a file's path: ``test/anatomy.csv``, ``val/x_val.csv``, ``x/test-0000.parquet``."""
    for suffix, split in _SPLIT_NAMES.items():
        if stem.endswith("_" + suffix):
            return split, stem[: -len(suffix) - 1]
    head = stem.split("-")[0]
    if head in _SPLIT_NAMES and len(parts) >= 2:
        return _SPLIT_NAMES[head], parts[-2]  # <subject>/<split>-00000-of-00001.parquet
    for part in reversed(parts[:-1]):
        if part in _SPLIT_NAMES:
            return _SPLIT_NAMES[part], stem
    return None, stem


def _read_table(name: str, data: bytes) -> list[dict[str, Any]]:
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(data)).to_pylist()
    text = data.decode("utf-8-sig")
    if name.endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if name.endswith(".json"):
        loaded = json.loads(text)
        return loaded if isinstance(loaded, list) else []
    reader = list(csv.reader(io.StringIO(text)))
    if not reader:
        return []
    header = [h.strip() for h in reader[0]]
    if "question" in {h.lower() for h in header}:
        return [dict(zip(header, r)) for r in reader[1:]]
    return [dict(zip(ROW_KEYS, r)) for r in reader if len(r) >= len(ROW_KEYS)]  # MMLU: no header


def _members(raw: Path) -> Iterable[tuple[str, bytes]]:
    """(path, bytes) of every data file in a download, archives included."""
    tables = (".csv", ".jsonl", ".json", ".parquet")
    for path in sorted(raw.rglob("*")):
        if not path.is_file() or any(p.startswith(".") for p in path.relative_to(raw).parts):
            continue
        rel = path.relative_to(raw).as_posix()
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    if not info.is_dir() and info.filename.endswith(tables) and "__MACOSX" not in info.filename:
                        yield info.filename, zf.read(info)
        elif path.name.endswith((".tar", ".tar.gz", ".tgz")):
            with tarfile.open(path) as tf:
                for member in tf.getmembers():
                    if member.isfile() and member.name.endswith(tables):
                        fh = tf.extractfile(member)
                        if fh is not None:
                            yield member.name, fh.read()
        elif path.name.endswith(tables) and path.name not in ("mapping.json", "subject_mapping.json",
                                                               "dataset_infos.json"):
            yield rel, path.read_bytes()


def _known_mapping(raw: Path) -> dict[str, dict[str, str]]:
    """Names and categories shipped with a download (llamafactory's mapping.json, C-Eval's subject_mapping.json)."""
    out: dict[str, dict[str, str]] = {}
    for path in raw.rglob("*mapping.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for key, value in (data.items() if isinstance(data, dict) else []):
            if isinstance(value, dict):
                out[key] = {"name": str(value.get("name", key)), "category": str(value.get("category", "Other"))}
            elif isinstance(value, list) and len(value) >= 3:  # [english, chinese, category]
                out[key] = {"name": str(value[1] or value[0]), "category": str(value[2])}
    for value in out.values():
        category = value["category"]
        value["category"] = "Social Sciences" if category.startswith("Social") else (
            category if category in CATEGORIES else "Other")
    return out


def prepare(raw: Path, folder: Path, name: str) -> int:
    """Convert a hub download at ``raw`` into the benchmark folder; returns the number of subjects."""
    rows: dict[str, dict[str, list[dict]]] = {}
    for member, data in _members(raw):
        parts = tuple(Path(member).parts)
        split, subject = _split_of(parts, Path(member).name.split(".")[0])
        if split is None or subject in ("all", "auxiliary_train"):
            continue
        try:
            rows.setdefault(subject, {}).setdefault(split, []).extend(_read_table(member, data))
        except (ValueError, UnicodeDecodeError, ImportError) as exc:
            raise MedtuiError(f"{name}: cannot read {member} ({exc})") from None
    for splits in rows.values():
        for split, items in splits.items():  # a download may hold an archive and its extracted files
            seen: set[str] = set()
            splits[split] = [r for r in items if (key := json.dumps(_row(r), sort_keys=True)) not in seen
                             and not seen.add(key)]
        if "train" not in splits and "validation" in splits:
            splits["train"] = splits["validation"][:5]  # few-shot examples
    known = _known_mapping(raw)
    mapping = {s: known.get(s, {"name": s.replace("_", " "), "category": "Other"}) for s in sorted(rows)}
    write_task(folder, mapping, rows)
    return len(read_mapping(folder))


# -- runs and results -----------------------------------------------------------------------------
def default_output_dir(name: str) -> str:
    return f"saves/eval/{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def bench_config(source, name: str, *, template: str, output_dir: str, split: str | None = None,
                 n_shot: int = 5, batch_size: int = 4, lang: str | None = None) -> dict[str, Any]:
    """What the worker needs: llamafactory's evaluation arguments plus medtui's output folder."""
    t = task(name)
    split = split or t.split
    if split not in SPLITS[:2]:
        raise MedtuiError(f"--split must be test or validation, not {split!r}")
    config: dict[str, Any] = {
        "model_name_or_path": source.model,
        "template": template,
        "finetuning_type": "lora" if source.adapters else "full",
        "task": f"{name}_{split}",
        "lang": lang or t.lang,
        "n_shot": n_shot,
        "batch_size": batch_size,
        "output_dir": output_dir,
    }
    if source.adapters:
        config["adapter_name_or_path"] = ",".join(source.adapters)
    return config


def bench_plan(config: dict[str, Any], ws: Workspace, source_folder: Path, chosen: list[str]):
    """The RunPlan of a benchmark run: the worker on a run-local task folder."""
    import sys

    from medtui.core.env.runenv import load as run_env
    from medtui.core.runs.plan import CONFIG_NAME, RunPlan
    from medtui.core.stages.builder import new_run_id, resolve_model_path, resolve_output_dir

    run_id = new_run_id("eval")
    run_dir = ws.runs_dir / run_id
    output_dir = resolve_output_dir(ws, config["output_dir"])
    body = dict(config)
    body["model_name_or_path"] = resolve_model_path(ws, str(body["model_name_or_path"]))
    if body.get("adapter_name_or_path"):
        body["adapter_name_or_path"] = ",".join(str(ws.resolve(p)) for p in body["adapter_name_or_path"].split(","))
    body["output_dir"] = str(output_dir)
    body["task_dir"] = str(run_dir / TASK_SUBDIR)
    body["save_dir"] = str(output_dir / RESULTS_SUBDIR)
    body["source_task_dir"] = str(source_folder)
    body["subjects"] = list(chosen)
    env = run_env(ws)
    env["PYTHONUNBUFFERED"] = "1"
    argv = [sys.executable, "-m", "medtui.workers.bench_eval", str(run_dir / CONFIG_NAME)]
    plan = RunPlan(run_id=run_id, stage="eval", run_dir=run_dir, yaml_config=body, argv=argv, env=env,
                   cwd=ws.root, output_dir=output_dir)
    return plan


#: Keys of a benchmark run's YAML that are medtui's, not llamafactory's evaluation arguments.
MEDTUI_KEYS = ("output_dir", "source_task_dir", "subjects")


@dataclass(frozen=True)
class Score:
    subject: str
    name: str
    category: str
    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return 100.0 * self.correct / self.total if self.total else 0.0


def subject_scores(task_folder: Path, predictions: dict[str, dict[str, str]], split: str) -> list[Score]:
    """Accuracy per subject: llamafactory's ``results.json`` predictions against the answers."""
    mapping = read_mapping(task_folder)
    scores = []
    for subject, preds in predictions.items():
        path = task_folder / "data" / subject / f"{split}.jsonl"
        try:
            answers = [json.loads(line).get("answer", "") for line in path.read_text(encoding="utf-8").splitlines()
                       if line.strip()]
        except (OSError, ValueError) as exc:
            raise MedtuiError(f"cannot read the answers of {subject}: {exc}") from None
        correct = sum(1 for i, answer in enumerate(answers) if preds.get(str(i)) == answer)
        info = mapping.get(subject, {})
        scores.append(Score(subject, str(info.get("name", subject)), str(info.get("category", "Other")), correct,
                            len(answers)))
    return scores


def write_results(output_dir: Path, scores: list[Score], meta: dict[str, Any]) -> None:
    from medtui.core.atomic import atomic_write_text

    data = {**meta, "subjects": [{"subject": s.subject, "name": s.name, "category": s.category,
                                  "correct": s.correct, "total": s.total, "accuracy": round(s.accuracy, 2)}
                                 for s in scores]}
    correct, total = sum(s.correct for s in scores), sum(s.total for s in scores)
    data["average"] = round(100.0 * correct / total, 2) if total else 0.0
    atomic_write_text(output_dir / RESULTS_FILE, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def read_results(output_dir: str | os.PathLike) -> dict[str, Any]:
    """``bench_results.json`` of a finished run; {} when it is not there (yet)."""
    return jsonfile.read_object(Path(output_dir) / RESULTS_FILE)


def format_table(results: dict[str, Any]) -> str:
    """A per-subject accuracy table, medical subjects marked, with the average."""
    rows = results.get("subjects") or []
    medical = set(TASKS[results["task"]].medical) if results.get("task") in TASKS else set()
    width = max([len(r["subject"]) for r in rows] + [7])
    lines = [f"{'SUBJECT':<{width}}  {'ACC %':>6}  {'RIGHT':>9}  CATEGORY"]
    for r in rows:
        mark = "  (medical)" if r["subject"] in medical else ""
        lines.append(f"{r['subject']:<{width}}  {r['accuracy']:>6.2f}  {r['correct']:>4}/{r['total']:<4}  "
                     f"{r['category']}{mark}")
    total = sum(r["total"] for r in rows)
    lines.append(f"{'average':<{width}}  {results.get('average', 0.0):>6.2f}  "
                 f"{sum(r['correct'] for r in rows):>4}/{total:<4}")
    return "\n".join(lines)
