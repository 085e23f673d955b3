"""Headless run commands: train, runs, logs, stop, export, pipeline."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from medtui.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, workspace_from
from medtui.core.errors import MedtuiError


def register(sub, common) -> None:
    p = sub.add_parser("train", parents=[common], help="run a llamafactory YAML (pt, sft, rm, ppo, dpo, kto)",
                       description="Validate, pre-flight and run a llamafactory training YAML, or the config of a "
                                   "LlamaBoard output folder (training_args.yaml / llamaboard_config.yaml). Relative "
                                   "paths resolve against the workspace. With --save, write a standalone YAML that "
                                   "plain llamafactory-cli trains instead of running.")
    p.add_argument("config", metavar="CONFIG.yaml|FOLDER")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one argument (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="validate, print the argv and YAML, and exit")
    p.add_argument("--detach", action="store_true", help="start and return at once; the run continues")
    p.add_argument("--save", metavar="OUT.yaml", help="write a standalone llamafactory YAML and exit (no run)")
    p.add_argument("--absolute-paths", action="store_true",
                   help="with --save: write every path absolute (default: as typed, else workspace-relative)")
    add_slurm_arguments(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("runs", parents=[common], help="list the workspace's runs")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("logs", parents=[common], help="print a run's output")
    p.add_argument("run", metavar="RUN", help="run id, unique prefix, or 'latest'")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until the run ends")
    p.add_argument("--stderr", action="store_true", help="show stderr instead of stdout")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("stop", parents=[common], help="stop a run (graceful: save, then stop) or a pipeline",
                       description="A run saves and stops after the current step. A pipeline stops after its "
                                   "current stage; --now also stops that stage gracefully.")
    p.add_argument("run", metavar="RUN", help="run id, unique prefix, 'latest' or 'latest:STAGE'")
    p.add_argument("--kill", action="store_true", help="kill the run's process group at once (nothing is saved)")
    p.add_argument("--now", action="store_true", help="for a pipeline: stop its running stage too, gracefully / 流程:同时平稳停止当前阶段")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds to wait for a graceful stop (default 120, or the Slurm profile's grace)")
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("resume", parents=[common], help="continue a stopped, killed or failed run from a checkpoint",
                       description="Start a new run that continues RUN from its latest (or a chosen) checkpoint in "
                                   "the same output folder; --set adds epochs or steps to a finished run. "
                                   "从检查点继续已停止、被终止或失败的训练;--set 可为已完成的训练追加轮数或步数。")
    p.add_argument("run", metavar="RUN", help="run id, unique prefix, or 'latest'")
    p.add_argument("--checkpoint", default="latest", metavar="latest|STEP|PATH",
                   help="checkpoint to continue from (default: latest)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one argument, e.g. num_train_epochs=5 (repeatable)")
    p.add_argument("--list", action="store_true", help="list the run's checkpoints (step, loss) and exit")
    p.add_argument("--detach", action="store_true", help="start and return at once; the run continues")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("export", parents=[common], help="merge LoRA adapters into a model and export it",
                       description="Either a llamafactory export YAML, or --model/--adapter/--out.")
    p.add_argument("config", nargs="?", metavar="CONFIG.yaml")
    p.add_argument("--model", help="base model folder")
    p.add_argument("--adapter", action="append", default=[], help="LoRA adapter folder (repeatable)")
    p.add_argument("--template", default=None, help="chat template (default: default)")
    p.add_argument("--out", help="export folder")
    p.add_argument("--size", type=int, default=None, help="shard size in GB")
    p.add_argument("--quantization-bit", type=int, choices=(2, 3, 4, 8), default=None,
                   help="GPTQ-quantize the export (needs a GPU and optimum; merge LoRA first)")
    p.add_argument("--quantization-dataset", metavar="D", help="GPTQ calibration data (e.g. data/c4_demo.jsonl)")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--detach", action="store_true")
    add_slurm_arguments(p, what="the export")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("pipeline", parents=[common], help="run a chain of stages unattended (demo or a file)",
                       description="The chain runs in a supervised process of its own (a run of kind pipeline), so "
                                   "closing the terminal never cancels a stage. Without --detach this command "
                                   "follows it; Ctrl-C stops launching further stages and exits 130. "
                                   "整条流程在独立进程中运行，关闭终端不会中断。")
    p.add_argument("pipeline", metavar="demo|FILE")
    p.add_argument("--only", help="comma-separated stage names to run (earlier outputs are reused)")
    p.add_argument("--resume", action="store_true",
                   help="skip the stages that already succeeded with the same configuration / 跳过已成功的阶段")
    p.add_argument("--detach", action="store_true", help="start and return at once; the chain continues / 启动后立即返回")
    p.add_argument("--dry-run", action="store_true", help="show the stages and exit")
    add_slurm_arguments(p, what="every stage")
    p.set_defaults(func=cmd_pipeline)


def add_slurm_arguments(p, what: str = "the run") -> None:
    slurm = p.add_argument_group("Slurm", f"submit {what} as a Slurm batch job; options left out come from the "
                                          "cluster profile (medtui slurm profile)")
    slurm.add_argument("--slurm", action="store_true", help="submit with sbatch instead of starting here")
    slurm.add_argument("--nodes", type=int, metavar="N", help="nodes (one torchrun agent each)")
    slurm.add_argument("--gpus-per-node", type=int, metavar="G", help="GPUs per node (0: CPU)")
    slurm.add_argument("--partition", metavar="P", help="Slurm partition")
    slurm.add_argument("--time", metavar="HH:MM:SS", help="time limit")
    slurm.add_argument("--account", metavar="A", help="account to charge")
    slurm.add_argument("--sbatch-arg", dest="sbatch_args", action="append", default=[], metavar="ARG",
                       help="one more sbatch option, e.g. --sbatch-arg=--qos=high (repeatable)")


def _parse_overrides(items: list[str]) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise MedtuiError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise MedtuiError(f"--set {key.strip()}: {value!r} is not a valid YAML value ({problem}); "
                              f"quote it to pass a string") from None
    return out


def cmd_train(args: argparse.Namespace) -> int:
    ws = workspace_from(args)
    from medtui.core.stages.llamaboard import load_config_source

    config = load_config_source(args.config)
    config.update(_parse_overrides(args.overrides))
    config.update(_slurm_overrides(args, config))
    if args.save:
        return _save(config, ws, args.save, absolute=args.absolute_paths)
    return _plan_and_run(config, ws, dry_run=args.dry_run, detach=args.detach)


def _save(config: dict[str, Any], ws, target: str, *, absolute: bool) -> int:
    from medtui.core.stages.saved import standalone
    from medtui.core.stages.validate import validate

    problems = validate(config)
    for problem in problems:
        print(problem, file=sys.stderr)
    if any(p.level == "error" for p in problems):
        return EXIT_BAD_INPUT
    saved = standalone(config, ws, target, absolute=absolute)
    _print_dropped(saved.dropped or {})
    saved.write()
    print(f"saved {saved.path}" + (f" and {saved.deepspeed_path}" if saved.deepspeed_path else ""))
    print(saved.text.splitlines()[1].removeprefix("# "))
    return EXIT_OK


def _print_dropped(dropped: dict[str, str]) -> None:
    for key, why in dropped.items():
        print(f"note: {key} left out: it {why}", file=sys.stderr)


SLURM_FLAGS = {"nodes": "--nodes", "gpus_per_node": "--gpus-per-node", "partition": "--partition", "time": "--time",
               "account": "--account", "sbatch_args": "--sbatch-arg"}


def _slurm_overrides(args: argparse.Namespace, config: dict[str, Any]) -> dict[str, Any]:
    """``--slurm`` and its options as config keys (``launch_on``, ``slurm_*``)."""
    import shlex

    out: dict[str, Any] = {}
    given = {k: getattr(args, k) for k in SLURM_FLAGS if getattr(args, k) not in (None, [])}
    if args.slurm:
        out["launch_on"] = "slurm"
    if given and out.get("launch_on", config.get("launch_on")) != "slurm":
        flags = ", ".join(SLURM_FLAGS[k] for k in given)
        raise MedtuiError(f"{flags} only apply to Slurm runs: add --slurm")
    for key, value in given.items():
        out[f"slurm_{key}"] = shlex.join(value) if key == "sbatch_args" else value
    return out


def _plan_and_run(config: dict[str, Any], ws, *, dry_run: bool, detach: bool) -> int:
    from medtui.core.stages import preflight
    from medtui.core.stages.launch import backend_name, prepare, preview, start

    plan, problems = prepare(config, ws)
    _print_dropped(plan.dropped)
    for problem in problems:
        print(problem, file=sys.stderr)
    if dry_run:
        print(preview(plan, ws))
        estimate = preflight.plan_estimate(plan)
        if estimate is not None:
            print("# memory estimate (medtui estimate CONFIG.yaml for fixes and --json)")
            print("\n".join(f"# {line}" for line in estimate.lines(fixes=estimate.fits is False)))
        return EXIT_BAD_INPUT if preflight.errors(problems) else EXIT_OK
    if preflight.errors(problems):
        print("medtui: pre-flight checks failed; nothing was started", file=sys.stderr)
        return EXIT_BAD_INPUT
    run = start(plan, ws)
    where = f" as Slurm job {run.job_id}" if backend_name(plan) == "slurm" else ""
    print(f"started {run.id} ({plan.stage}){where} → {plan.output_dir}")
    if detach:
        print(f"detached; follow with: medtui logs {run.id} -f   stop with: medtui stop {run.id}")
        return EXIT_OK
    return follow(run)


def follow(run, *, prefix: str = "") -> int:
    """Print progress until the run ends; Ctrl-C detaches and leaves the run going."""
    from medtui.core.runs import backend
    from medtui.core.runs.follow import RunReader
    from medtui.core.runs.records import load_run
    from medtui.core.runs.resume import history_before

    reader = RunReader(run.trainer_log)
    history, offset = history_before(run.record)
    if offset:  # a resumed run: its earlier steps, then its own records
        reader.tail.offset = offset
        reader.progress.add(history)
    last = ""
    shown = ""
    try:
        while True:
            fresh = load_run(run.run_dir)
            queued = backend.queue_line(fresh)  # a Slurm job: what it waits for, and where it runs
            if queued and queued != shown:
                print(f"{prefix}{fresh.id}: {queued}", flush=True)
                shown = queued
            if reader.poll():
                line = reader.progress.line()
                if line != last:
                    print(f"{prefix}{line}", flush=True)
                    last = line
            if not fresh.is_running:
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        print(f"\ndetached; {run.id} keeps running. medtui stop {run.id} to stop it.", file=sys.stderr)
        return 130
    status = fresh.status
    reason = fresh.reason()
    print(f"{prefix}{fresh.id}: {status}" + (f" ({reason})" if reason else ""), flush=True)
    for line in diagnosis_lines(fresh.record):
        print(f"{prefix}{line}", file=sys.stderr)
    if status in ("failed", "killed"):
        print(f"{prefix}see: medtui logs {fresh.id} --stderr", file=sys.stderr)
    return EXIT_OK if status in ("succeeded", "stopped") else EXIT_FAILED


def cmd_resume(args: argparse.Namespace) -> int:
    from medtui.core.runs.records import find_run
    from medtui.core.runs.resume import list_checkpoints, pick_checkpoint, resume_refusal
    from medtui.core.stages.launch import resume

    ws = workspace_from(args)
    run = find_run(ws.runs_dir, args.run)
    if args.list:
        found = list_checkpoints(run.output_dir)
        if not found:
            print(f"{run.id}: no checkpoints in {run.output_dir}")
            return EXIT_OK
        print(f"{'STEP':>8} {'LOSS':>10}  CHECKPOINT")
        for ckpt in found:
            loss = f"{ckpt.loss:.4f}" if ckpt.loss is not None else "?"
            print(f"{ckpt.step:>8} {loss:>10}  {ckpt.path}")
        return EXIT_OK
    why = resume_refusal(run)
    if why:
        raise MedtuiError(why)
    ckpt = pick_checkpoint(run, args.checkpoint)
    new = resume(run, ws, checkpoint=str(ckpt.path), overrides=_parse_overrides(args.overrides))
    print(f"resumed {run.id} from {ckpt.path.name} ({ckpt.label()}) as {new.id} → {new.output_dir}")
    if args.detach:
        print(f"detached; follow with: medtui logs {new.id} -f   stop with: medtui stop {new.id}")
        return EXIT_OK
    return follow(new)


def diagnosis_lines(record: dict[str, Any]) -> list[str]:
    """A run's diagnosis and live alerts, as ``medtui logs`` and ``medtui train`` print them."""
    from medtui.core.runs.diagnosis import Diagnosis

    out = []
    found = Diagnosis.from_dict(record.get("diagnosis"))
    if found:
        out += [f"diagnosis: {found.cause}: {found.reason}", f"fix: {found.fix}"]
        out += [f"  | {line}" for line in found.evidence]
    for alert in record.get("alerts") or []:
        if isinstance(alert, dict):
            times = f" (x{alert['count']})" if alert.get("count", 1) > 1 else ""
            state = " [resolved]" if alert.get("resolved") else ""
            out.append(f"alert: {alert.get('kind')}{times}{state}: {alert.get('message')}")
    return out


def cmd_runs(args: argparse.Namespace) -> int:
    from medtui.core.runs.progress import format_seconds
    from medtui.core.runs.states import ACTIVE
    from medtui.core.runs.summary import RunsWatcher

    ws = workspace_from(args)
    watcher = RunsWatcher(ws)
    runs = watcher.poll()
    for reason in watcher.unreadable.values():
        print(f"warning: skipped {reason}", file=sys.stderr)
    if args.json:
        print(json.dumps([r.as_json() for r in runs], indent=2, ensure_ascii=False))
        return EXIT_OK
    if not runs:
        print(f"no runs in {ws.root} yet (start one with: medtui train CONFIG.yaml)")
        return EXIT_OK
    width = max(28, *(len(r.id) for r in runs))
    print(f"{'ID':<{width}} {'STAGE':<8} {'KIND':<8} {'STATUS':<10} {'TIME':>8}  {'WHERE':<16} {'WHY':<20} OUTPUT")
    now = time.time()
    for r in runs:
        took = format_seconds(r.duration(now))
        spec = r.run.record.get("pipeline_spec") if r.run is not None else None
        out = (f"{spec.get('name')} ({spec.get('ref')})" if r.kind == "pipeline" and isinstance(spec, dict)
               else r.output_dir)
        print(f"{r.id:<{width}} {r.stage:<8} {r.kind:<8} {r.status:<10} {took:>8}  {r.where():<16} "
              f"{r.why or '-':<20} {out}")
        if r.reason and r.status not in ACTIVE:
            print(f"{'':<{width}} └ {r.reason[:200]}")
    return EXIT_OK


def cmd_logs(args: argparse.Namespace) -> int:
    from medtui.core.runs import backend
    from medtui.core.runs.follow import TextTail
    from medtui.core.runs.records import find_run, load_run

    ws = workspace_from(args)
    run = find_run(ws.runs_dir, args.run)
    files = backend.logs(run)
    tail = TextTail(files.stderr if args.stderr else files.stdout)
    try:
        while True:
            for line in tail.read_new():
                print(line, flush=True)
            if not args.follow or not load_run(run.run_dir).is_running:
                for line in tail.read_new():
                    print(line, flush=True)
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        return EXIT_OK
    lines = diagnosis_lines(load_run(run.run_dir).record)
    if lines:
        print("\n".join(["", f"── {run.id} ──", *lines]), file=sys.stderr)
    return EXIT_OK


def cmd_stop(args: argparse.Namespace) -> int:
    from medtui.core.lifecycle.chain import stop_any
    from medtui.core.runs.records import find_run

    if args.timeout is not None and not args.timeout >= 0:  # also refuses nan
        raise MedtuiError(f"--timeout must be 0 or more seconds, got {args.timeout:g}")
    ws = workspace_from(args)
    run = find_run(ws.runs_dir, args.run)
    final = stop_any(run, now=args.now, kill=args.kill, grace=args.timeout,
                     on_phase=lambda m: print(m, file=sys.stderr))
    if final.kind == "pipeline" and final.is_running:
        print(f"{final.id}: stopping after its current stage")
        return EXIT_OK
    reason = final.reason()
    print(f"{final.id}: {final.status}" + (f" ({reason})" if reason else ""))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from medtui.core.stages.builder import load_config_file

    ws = workspace_from(args)
    if args.config:
        config = load_config_file(args.config)
    else:
        if not args.model or not args.out:
            raise MedtuiError("export needs CONFIG.yaml, or --model and --out (with --adapter for LoRA)")
        config = {"model_name_or_path": args.model, "export_dir": args.out}
        if args.adapter:
            config["adapter_name_or_path"] = ",".join(args.adapter)
            config["finetuning_type"] = "lora"
    if args.template:
        config["template"] = args.template
    config.setdefault("template", "default")
    if args.size is not None:
        if args.size < 1:
            raise MedtuiError(f"--size must be at least 1 (GB), got {args.size}")
        config["export_size"] = args.size
    if args.quantization_bit:
        if not args.quantization_dataset:
            raise MedtuiError("--quantization-bit needs --quantization-dataset (GPTQ calibration data)")
        config.update(export_quantization_bit=args.quantization_bit,
                      export_quantization_dataset=args.quantization_dataset)
    config.pop("stage", None)
    if not config.get("export_dir"):
        raise MedtuiError("the export config needs export_dir")
    config.update(_slurm_overrides(args, config))
    return _plan_and_run(config, ws, dry_run=args.dry_run, detach=args.detach)


def cmd_pipeline(args: argparse.Namespace) -> int:
    from medtui.core.lifecycle.chain import check_request, start_pipeline
    from medtui.core.lifecycle.pipeline import load_pipeline

    ws = workspace_from(args)
    pipeline = load_pipeline(args.pipeline)
    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only is not None else None
    if args.dry_run:
        if only is not None:
            check_request(ws, pipeline, only)
        print(f"pipeline {pipeline.name}: {' → '.join(pipeline.stage_names())}")
        for stage in pipeline.stages:
            print(f"  {stage.name}: {stage.stage} {json.dumps(stage.config, ensure_ascii=False)}")
        return EXIT_OK
    slurm = _slurm_overrides(args, {"launch_on": "slurm"} if args.slurm else {})
    run = start_pipeline(ws, args.pipeline, only=only, resume=args.resume, launch=slurm)
    if args.detach:
        print(f"started pipeline run {run.id}; follow with: medtui logs {run.id} -f   "
              f"stop with: medtui stop {run.id}")
        return EXIT_OK
    return follow_pipeline(run, args.pipeline)


def follow_pipeline(run, ref: str) -> int:
    """Print a pipeline run's progress until it ends. Ctrl-C stops launching further stages (the running
    one goes on), says how to stop it and how to resume, and exits 130."""
    from medtui.core.lifecycle.chain import current_stage_run, read_state
    from medtui.core.runs.follow import TextTail
    from medtui.core.runs.records import load_run
    from medtui.core.runs.states import request_stop

    tail = TextTail(run.stdout_path)
    try:
        while True:
            for line in tail.read_new():
                print(line, flush=True)
            fresh = load_run(run.run_dir)
            if not fresh.is_running:
                for line in tail.read_new():
                    print(line, flush=True)
                break
            time.sleep(0.3)
    except KeyboardInterrupt:
        fresh = load_run(run.run_dir)
        if fresh.is_running:
            request_stop(run.run_dir, "graceful")
        current = current_stage_run(fresh)
        print("\nmedtui: no further stage will start.", file=sys.stderr)
        if current is not None and current.is_running:
            print(f"medtui: stage {current.stage} ({current.id}) is still running; stop it with: "
                  f"medtui stop {current.id}", file=sys.stderr)
        print(f"medtui: resume the chain later with: medtui pipeline {ref} --resume", file=sys.stderr)
        return 130
    state = read_state(run.run_dir)
    bad = next((s for s in state.get("stages", []) if s.get("status") in ("failed", "killed", "stopped")), None)
    if fresh.status == "succeeded":
        return EXIT_OK
    if bad is not None:
        print(f"pipeline stopped at stage {bad['name']}: {bad['status']}"
              + (f": {bad['reason']}" if bad.get("reason") else ""), file=sys.stderr)
        if fresh.status == "stopped":
            print(f"medtui: resume with: medtui pipeline {ref} --resume", file=sys.stderr)
            return EXIT_OK
        return EXIT_BAD_INPUT if not bad.get("run_id") else EXIT_FAILED
    reason = fresh.reason()
    print(f"pipeline run {fresh.id}: {fresh.status}" + (f" ({reason})" if reason else ""), file=sys.stderr)
    return EXIT_OK if fresh.status == "stopped" else EXIT_FAILED
