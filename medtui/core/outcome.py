"""What a finished run left, in a few lines: a predict run's metrics and predictions, an evaluation's
loss and perplexity, a benchmark's accuracy table, an export's merged folder, a training run's final
model, a pipeline's stages. The Monitor shows these for runs that have no loss curve to draw
(every kind but train) and under a finished run's chart.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from medtui.core.errors import MedtuiError
from medtui.core.runs.records import Run

WEIGHTS = (".safetensors", ".bin")


@dataclass(frozen=True)
class Outcome:
    """``title`` (one line) and ``lines`` of detail; ``ready`` False while there is nothing to show yet."""

    title: str
    lines: list[str] = field(default_factory=list)
    ready: bool = True


def _size(folder: Path) -> tuple[int, int]:
    files = total = 0
    try:
        for entry in os.scandir(folder):
            if entry.is_file(follow_symlinks=False):
                files += 1
                total += entry.stat().st_size
    except OSError:
        pass
    return files, total


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def predict_outcome(run: Run) -> Outcome:
    from medtui.core.predict import METRICS, format_metrics, iter_predictions, read_metrics

    folder = run.output_dir
    try:
        metrics = read_metrics(folder)
    except MedtuiError as exc:
        return Outcome("Predictions", [str(exc)])
    if not metrics:
        return Outcome("Predictions", [f"no results in {folder} yet"], ready=False)
    count = sum(1 for _ in iter_predictions(folder))
    lines = [format_metrics(metrics), f"{count} predictions in {folder / 'generated_predictions.jsonl'}"]
    missing = [label for key, label in METRICS if key not in metrics]
    if missing:
        lines.append(f"(no {', '.join(missing)}: the metrics extra is not installed)")
    return Outcome("Predictions", lines)


def evaluate_outcome(run: Run) -> Outcome:
    """A loss/perplexity evaluation (kind ``evaluate``): its metrics."""
    from medtui.core.predict import format_eval_metrics, read_eval_metrics

    try:
        metrics = read_eval_metrics(run.output_dir)
    except MedtuiError as exc:
        return Outcome("Evaluation", [str(exc)])
    if not metrics:
        return Outcome("Evaluation", [f"no results in {run.output_dir} yet"], ready=False)
    return Outcome("Evaluation", [format_eval_metrics(metrics), f"in {run.output_dir}"])


def benchmark_outcome(run: Run) -> Outcome:
    """A multiple-choice benchmark (kind ``benchmark``): the accuracy table."""
    from medtui.core.benchmark import format_table, read_results

    try:
        results = read_results(run.output_dir)
        table = format_table(results).splitlines() if results else []
    except MedtuiError as exc:
        return Outcome("Benchmark", [str(exc)])
    except (KeyError, TypeError, ValueError):
        return Outcome("Benchmark", [f"{run.output_dir}: unreadable results"])
    if not table:
        return Outcome("Benchmark", [f"no results in {run.output_dir} yet"], ready=False)
    return Outcome("Benchmark", table)


def export_outcome(run: Run) -> Outcome:
    folder = run.output_dir
    if not folder.is_dir():
        return Outcome("Exported model", [f"{folder} does not exist"], ready=False)
    files, total = _size(folder)
    weights = sorted(p.name for p in folder.iterdir() if p.suffix in WEIGHTS)
    lines = [f"{folder}", f"{files} files, {_human(total)}"]
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        lines.append(f"architecture {', '.join(config.get('architectures') or ['?'])}, "
                     f"dtype {config.get('torch_dtype') or config.get('dtype') or '?'}")
    except (OSError, ValueError, AttributeError):
        lines.append("no readable config.json")
    lines.append(f"weights: {', '.join(weights[:4])}" + (" …" if len(weights) > 4 else "") if weights
                 else "no weight files")
    adapters = str((run.record.get("config") or {}).get("adapter_name_or_path") or "")
    if adapters:
        lines.append(f"merged: {adapters}")
    return Outcome("Exported model", lines, ready=bool(weights))


def pipeline_outcome(run: Run) -> Outcome:
    from medtui.core.runs.states import PIPELINE_STATE

    try:
        state = json.loads((run.run_dir / PIPELINE_STATE).read_text(encoding="utf-8"))
        stages = [s for s in state["stages"] if isinstance(s, dict)]
    except (OSError, ValueError, KeyError, TypeError):
        return Outcome("Pipeline", ["no progress recorded yet"], ready=False)
    lines = [f"{s.get('name')}: {s.get('status')}" + (f" ({s.get('run_id')})" if s.get("run_id") else "")
             + (f" - {s.get('reason')}" if s.get("reason") and s.get("status") not in ("succeeded",) else "")
             for s in stages]
    return Outcome(f"Pipeline {state.get('name', '')}".strip(), lines)


def outcome(run: Run) -> Outcome | None:
    """The outcome to show for ``run``, or None for a training run (its chart says it)."""
    kind = run.kind
    if kind == "predict":
        return predict_outcome(run)
    if kind == "evaluate":
        return evaluate_outcome(run)
    if kind == "benchmark":
        return benchmark_outcome(run)
    if kind == "export":
        return export_outcome(run)
    if kind == "pipeline":
        return pipeline_outcome(run)
    return None
