"""``medtui eval``: benchmarks (CMMLU, C-Eval, MMLU) and the loss/perplexity of held-out data."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from medtui.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, workspace_from
from medtui.core.errors import MedtuiError


def register(sub, common) -> None:
    p = sub.add_parser(
        "eval", parents=[common], help="benchmark a model (cmmlu, ceval, mmlu) or score held-out data (loss)",
        description="With --task, run llamafactory's multiple-choice evaluator on CMMLU, C-Eval or MMLU as a run "
                    "with progress, then print the accuracy of every subject. The benchmark is read from "
                    "<workspace>/evaluation/<task>/ (or --task-dir), and downloaded from the hub the first time. "
                    "With --dataset, evaluate the model's loss and perplexity on a registered dataset, without "
                    "training (after continued pre-training use --stage pt).")
    p.add_argument("model", nargs="?", metavar="MODEL", help="model folder or run id (as for medtui chat)")
    p.add_argument("--task", choices=("cmmlu", "ceval", "mmlu"), help="benchmark to run")
    p.add_argument("--subjects", help="comma-separated subjects (default: all; see --list)")
    p.add_argument("--medical", action="store_true", help="only the benchmark's medical subjects")
    p.add_argument("--list", action="store_true", help="list the benchmark's subjects and exit")
    p.add_argument("--split", choices=("test", "validation"), help="split to score (default: the task's own)")
    p.add_argument("--n-shot", type=int, default=5, metavar="N", help="few-shot examples per question (default 5)")
    p.add_argument("--task-dir", metavar="DIR", help="folder holding <task>/ (default: <workspace>/evaluation)")
    p.add_argument("--hub", choices=("modelscope", "hf"), default="modelscope",
                   help="where to download a missing benchmark from (default modelscope)")
    p.add_argument("--download-only", action="store_true", help="download and prepare the benchmark, then exit")
    p.add_argument("--dataset", help="registered dataset(s) to score (loss and perplexity), comma separated")
    p.add_argument("--stage", choices=("sft", "pt"), default="sft",
                   help="with --dataset: sft scores replies, pt scores raw text (default sft)")
    p.add_argument("--adapter", action="append", default=[], metavar="DIR", help="LoRA adapter (repeatable)")
    p.add_argument("--template", help="chat template (default: fewshot for benchmarks, else the training one)")
    p.add_argument("--max-samples", type=int, default=None, metavar="N", help="with --dataset: examples to use")
    p.add_argument("--cutoff-len", type=int, default=None, metavar="N", help="with --dataset: tokens per example")
    p.add_argument("--batch-size", type=int, default=None, metavar="N", help="examples per step")
    p.add_argument("--out", metavar="DIR", help="output folder (default saves/eval/<name>-<time>)")
    p.add_argument("--show", metavar="RUN|DIR", help="print the results of a finished eval run or folder")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--dry-run", action="store_true", help="validate and print what would run")
    p.add_argument("--detach", action="store_true", help="start and return at once; the run continues")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    ws = workspace_from(args)
    if args.show:
        return _show(_results_dir(ws, args.show), args)
    for name in ("n_shot", "batch_size", "max_samples", "cutoff_len"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "n_shot" else 1):
            raise MedtuiError(f"--{name.replace('_', '-')} must be at least {0 if name == 'n_shot' else 1}")
    if args.task and args.dataset:
        raise MedtuiError("choose --task (a benchmark) or --dataset (loss on your data), not both")
    if args.task:
        return _benchmark(ws, args)
    if args.list:
        raise MedtuiError("--list needs --task")
    if not args.model or not args.dataset:
        raise MedtuiError("eval needs MODEL with --task or --dataset (or --show RUN)")
    return _evaluate(ws, args)


# -- benchmarks ---------------------------------------------------------------------------------
def _benchmark(ws, args: argparse.Namespace) -> int:
    from medtui.core import benchmark

    folder = benchmark.task_folder(ws, args.task, args.task_dir)
    if args.list:
        return _list(args.task, folder)
    if not benchmark.is_prepared(folder):
        if args.task_dir:
            raise MedtuiError(f"no prepared benchmark in {folder} (mapping.json, README.md, data/<subject>/...)")
        code = _download(ws, args.task, folder, args.hub)
        if code != EXIT_OK:
            return code
    if args.download_only:
        print(f"{args.task}: {len(benchmark.subjects(args.task, folder))} subjects in {ws.relative(folder)}")
        return EXIT_OK
    if not args.model:
        raise MedtuiError("eval --task needs MODEL")
    chosen = benchmark.choose_subjects(args.task, folder, (args.subjects or "").split(","), medical=args.medical)
    from medtui.core.chat.models import resolve_model

    source = resolve_model(ws, args.model, args.adapter)
    config = benchmark.bench_config(source, args.task, template=args.template or "fewshot",
                                    output_dir=args.out or benchmark.default_output_dir(args.task),
                                    split=args.split, n_shot=args.n_shot, batch_size=args.batch_size or 4)
    plan = benchmark.bench_plan(config, ws, folder, chosen)
    problems = _bench_problems(plan)
    for problem in problems:
        print(problem, file=sys.stderr)
    if args.dry_run:
        print(plan.preview())
        return EXIT_BAD_INPUT if problems else EXIT_OK
    if problems:
        return EXIT_BAD_INPUT
    from medtui.cli.train_cmd import follow
    from medtui.core.runs import runner

    run = runner.start(plan, ws, kind="benchmark")
    print(f"started {run.id} ({args.task}, {len(chosen)} subject(s)) → {plan.output_dir}")
    if args.detach:
        print(f"detached; follow with: medtui logs {run.id} -f   results: medtui eval --show {run.id}")
        return EXIT_OK
    code = follow(run)
    if code != EXIT_OK:
        return code
    return _show(plan.output_dir, args)


def _bench_problems(plan) -> list[str]:
    from medtui.core.stages.validate import validate

    cfg = plan.yaml_config
    out = [str(p) for p in validate({"stage": "sft", "model_name_or_path": cfg["model_name_or_path"], "dataset": "-",
                                     "output_dir": "-", "template": cfg["template"]}) if p.level == "error"]
    model = Path(cfg["model_name_or_path"])
    if model.is_absolute() and not (model / "config.json").is_file():
        out.append(f"error: model_name_or_path: no model (config.json) in {model}")
    results = Path(cfg["save_dir"])
    if results.exists():
        out.append(f"error: output_dir: {results} already exists; choose another --out")
    return out


def _download(ws, name: str, folder: Path, hub: str) -> int:
    import tempfile

    from medtui.core import benchmark
    from medtui.core.hub import download

    t = benchmark.task(name)
    repo = t.modelscope if hub == "modelscope" else t.hf
    raw = folder.parent / f".{name}-download"
    from dataclasses import replace

    request = replace(download.make_request(ws, "dataset", repo, hub=hub), dest=raw)
    print(f"{name} is not in {ws.relative(folder)} yet; downloading {repo} from {hub} …", flush=True)
    state = download.run(request)
    if state.status != "done":
        where = "ModelScope" if hub == "modelscope" else "the Hugging Face hub"
        print(f"medtui: cannot download the {t.title} benchmark ({repo}) from {where}: {state.message}\n"
              f"  Offline? Copy a prepared benchmark to {folder} (mapping.json, README.md, "
              f"data/<subject>/<split>.jsonl), or pass --task-dir DIR; with network, try --hub "
              f"{'hf' if hub == 'modelscope' else 'modelscope'}.", file=sys.stderr)
        return EXIT_FAILED
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{name}-prepare-") as tmp:
        count = benchmark.prepare(raw, Path(tmp) / name, name)
        (Path(tmp) / name).rename(folder)
    print(f"{name}: prepared {count} subjects in {ws.relative(folder)}")
    return EXIT_OK


def _list(name: str, folder: Path) -> int:
    from medtui.core import benchmark

    prepared = benchmark.is_prepared(folder)
    rows = benchmark.subjects(name, folder)
    for s in rows:
        print(f"{s.key:<42} {s.category:<16} {s.name}" + ("  (medical)" if s.medical else ""))
    if not prepared:
        print(f"(the medical subjects medtui knows; `medtui eval --task {name} --download-only` fetches all)",
              file=sys.stderr)
    return EXIT_OK


# -- loss and perplexity on a dataset -------------------------------------------------------------
def _evaluate(ws, args: argparse.Namespace) -> int:
    from medtui.cli.train_cmd import _plan_and_run
    from medtui.core.chat.models import resolve_model, suggest_template
    from medtui.core.predict import default_output_dir, evaluate_config
    from medtui.core.stages.builder import resolve_output_dir

    source = resolve_model(ws, args.model, args.adapter)
    out = args.out or default_output_dir(args.dataset).replace("saves/predict/", "saves/eval/", 1)
    config = evaluate_config(source, args.dataset, template=args.template or suggest_template(source),
                             output_dir=out, stage=args.stage, max_samples=args.max_samples,
                             batch_size=args.batch_size, cutoff_len=args.cutoff_len)
    code = _plan_and_run(config, ws, dry_run=args.dry_run, detach=args.detach)
    if code != EXIT_OK or args.dry_run or args.detach:
        return code
    return _show(resolve_output_dir(ws, out), args)


def _results_dir(ws, ref: str) -> Path:
    path = ws.resolve(ref)
    if path.is_dir():
        return path
    from medtui.core.runs.records import find_run

    return find_run(ws.runs_dir, ref).output_dir


def _show(folder: Path, args: argparse.Namespace) -> int:
    from medtui.core import benchmark
    from medtui.core.predict import format_eval_metrics, read_eval_metrics

    bench = benchmark.read_results(folder)
    if bench:
        print(json.dumps(bench, indent=2, ensure_ascii=False) if args.json else
              f"{bench.get('task', '?')} ({bench.get('split', '?')}, {bench.get('n_shot', '?')}-shot): "
              f"{folder}\n{benchmark.format_table(bench)}")
        return EXIT_OK
    metrics = read_eval_metrics(folder)
    if metrics:
        print(json.dumps(metrics, indent=2) if args.json else f"results: {folder}\n{format_eval_metrics(metrics)}")
        return EXIT_OK
    print(f"medtui: no results in {folder} (has the eval run finished?)", file=sys.stderr)
    return EXIT_BAD_INPUT
