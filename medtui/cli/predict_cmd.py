"""``medtui predict``: batch prediction on a held-out dataset, with BLEU-4 and ROUGE."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from medtui.cli.common import EXIT_BAD_INPUT, EXIT_OK, workspace_from
from medtui.core.errors import MedtuiError


def register(sub, common) -> None:
    p = sub.add_parser("predict", parents=[common], help="predict on a dataset and score it (BLEU-4, ROUGE)",
                       description="Run llamafactory predict (stage sft, do_predict, predict_with_generate) as a run "
                                   "with progress, then print the metrics and the first predictions. With --show, "
                                   "print the results of an earlier predict run or folder instead.")
    p.add_argument("model", nargs="?", metavar="MODEL", help="model folder or run id (as for medtui chat)")
    p.add_argument("--dataset", help="registered dataset name(s) to predict on, comma separated")
    p.add_argument("--adapter", action="append", default=[], metavar="DIR", help="LoRA adapter (repeatable)")
    p.add_argument("--template", help="chat template (default: the one the model was trained with)")
    p.add_argument("--max-samples", type=int, default=100, metavar="N", help="examples to use (default 100)")
    p.add_argument("--max-new-tokens", type=int, default=128, metavar="N", help="tokens per reply (default 128)")
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0: greedy)")
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling with --temperature > 0 (default 0.7)")
    p.add_argument("--backend", choices=("huggingface", "vllm", "sglang"), default="huggingface",
                   help="inference engine (default huggingface; vllm/sglang need a GPU and run in medtui's engine)")
    p.add_argument("--batch-size", type=int, default=None, metavar="N", help="per_device_eval_batch_size")
    p.add_argument("--out", metavar="DIR", help="output folder (default saves/predict/<dataset>-<time>)")
    p.add_argument("--limit", type=int, default=3, metavar="N", help="predictions to print (default 3)")
    p.add_argument("--show", metavar="RUN|DIR", help="print the results of a finished predict run or folder")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--dry-run", action="store_true", help="validate and print the argv and YAML")
    p.add_argument("--detach", action="store_true", help="start and return at once; the run continues")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    ws = workspace_from(args)
    if args.show:
        return _show(_results_dir(ws, args.show), args)
    if not args.model or not args.dataset:
        raise MedtuiError("predict needs MODEL and --dataset (or --show RUN)")
    for name, value in (("--max-samples", args.max_samples), ("--max-new-tokens", args.max_new_tokens)):
        if value is not None and value < 1:
            raise MedtuiError(f"{name} must be at least 1")
    if args.temperature < 0:
        raise MedtuiError("--temperature must be 0 or more")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise MedtuiError("--top-p must be above 0 and at most 1")
    from medtui.cli.train_cmd import _plan_and_run
    from medtui.core.chat.models import resolve_model, suggest_template
    from medtui.core.predict import default_output_dir, predict_config

    source = resolve_model(ws, args.model, args.adapter)
    config = predict_config(source, args.dataset, template=args.template or suggest_template(source),
                            output_dir=args.out or default_output_dir(args.dataset), max_samples=args.max_samples,
                            max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                            top_p=args.top_p, backend=args.backend, batch_size=args.batch_size)
    code = _plan_and_run(config, ws, dry_run=args.dry_run, detach=args.detach)
    if code != EXIT_OK or args.dry_run or args.detach:
        return code
    from medtui.core.stages.builder import resolve_output_dir

    return _show(resolve_output_dir(ws, config["output_dir"]), args)


def _results_dir(ws, ref: str) -> Path:
    path = ws.resolve(ref)
    if path.is_dir():
        return path
    from medtui.core.runs.records import find_run

    return find_run(ws.runs_dir, ref).output_dir


def _show(folder: Path, args: argparse.Namespace) -> int:
    from medtui.core.predict import METRICS, format_metrics, read_metrics, read_predictions

    metrics = read_metrics(folder)
    if not metrics:
        print(f"medtui: no {folder / 'predict_results.json'} (has the predict run finished?)", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps(metrics, indent=2))
        return EXIT_OK
    print(f"results: {folder}")
    print(format_metrics(metrics))
    for pred in read_predictions(folder, 0, max(0, args.limit)):
        print(f"\n#{pred.index + 1}\n  prompt:  {_one_line(pred.prompt)}\n  predict: {_one_line(pred.predict)}\n"
              f"  label:   {_one_line(pred.label)}")
    missing = [label for key, label in METRICS if key not in metrics]
    if missing:
        print(f"(no {', '.join(missing)}: install the metrics extra: pip install 'medtui[metrics]')", file=sys.stderr)
    return EXIT_OK


def _one_line(text: str, width: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
