"""Batch predict with metrics, and evaluation of held-out data (loss, perplexity).

Predict is llamafactory ``sft`` with ``do_predict`` on a held-out dataset; evaluate is ``pt`` or
``sft`` with ``do_eval`` and no training (:func:`evaluate_config`), whose ``eval_results.json``
gives the loss, and the perplexity exp(loss) (:func:`read_eval_metrics`).

:func:`predict_config` builds the config; it runs like any stage (:func:`medtui.core.stages.launch.launch`),
so it has progress (``trainer_log.jsonl``) and survives medtui. Afterwards
``predict_results.json`` holds BLEU-4 and ROUGE (percentages) and ``generated_predictions.jsonl``
one ``{prompt, predict, label}`` per example; :func:`read_metrics` and :func:`read_predictions`
read them without loading the whole file.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Iterator

from medtui.core import jsonfile
from medtui.core.chat.models import ModelSource
from medtui.core.errors import MedtuiError

RESULTS_FILE = "predict_results.json"
PREDICTIONS_FILE = "generated_predictions.jsonl"
#: The metrics shown first, in this order, with their labels.
METRICS = (("bleu-4", "BLEU-4"), ("rouge-1", "ROUGE-1"), ("rouge-2", "ROUGE-2"), ("rouge-l", "ROUGE-L"))


def default_output_dir(dataset: str) -> str:
    """``saves/predict/<dataset>-<time>`` (relative to the workspace)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset.split(",")[0]) or "predict"
    return f"saves/predict/{safe}-{time.strftime('%Y%m%d-%H%M%S')}"


def predict_config(source: ModelSource, dataset: str, *, template: str, output_dir: str,
                   max_samples: int | None = 100, max_new_tokens: int = 128, temperature: float = 0.0,
                   top_p: float | None = None, backend: str | None = None,
                   batch_size: int | None = None, cutoff_len: int | None = None,
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stage config of a predict run (greedy decoding unless ``temperature`` > 0).

    ``backend`` vllm or sglang is recorded as ``infer_backend``; the builder runs such a predict
    through medtui's engine worker, as llamafactory's trainer only predicts with huggingface.
    """
    if not dataset or not dataset.strip():
        raise MedtuiError("predict needs a dataset (eval_dataset)")
    config: dict[str, Any] = {
        "stage": "sft",
        "do_train": False,
        "do_predict": True,
        "predict_with_generate": True,
        "model_name_or_path": source.model,
        "finetuning_type": "lora" if source.adapters else "full",
        "template": template,
        "eval_dataset": dataset,
        "output_dir": output_dir,
        "max_new_tokens": max_new_tokens,
        "preprocessing_num_workers": max(1, min(16, os.cpu_count() or 1)),
        "report_to": "none",
    }
    if source.adapters:
        config["adapter_name_or_path"] = ",".join(source.adapters)
    if max_samples:
        config["max_samples"] = max_samples
    if temperature and temperature > 0:
        config.update(do_sample=True, temperature=temperature)
        if top_p is not None:
            config["top_p"] = top_p
    else:
        config["do_sample"] = False
    if backend and backend != "huggingface":
        config["infer_backend"] = backend
    if batch_size:
        config["per_device_eval_batch_size"] = batch_size
    if cutoff_len:
        config["cutoff_len"] = cutoff_len
    config.update(extra or {})
    return config


EVAL_RESULTS_FILE = "eval_results.json"


def evaluate_config(source: ModelSource, dataset: str, *, template: str, output_dir: str, stage: str = "sft",
                    max_samples: int | None = None, batch_size: int | None = None, cutoff_len: int | None = None,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The config of an evaluate run: loss (and perplexity) of the model on ``dataset``, no training.

    ``pt`` scores raw text (continued pre-training, packed to ``cutoff_len``); ``sft`` scores the
    replies of an instruction set.
    """
    if stage not in ("pt", "sft"):
        raise MedtuiError(f"evaluate runs are pt or sft, not {stage!r}")
    if not dataset or not dataset.strip():
        raise MedtuiError("evaluate needs a dataset (eval_dataset)")
    config: dict[str, Any] = {
        "stage": stage,
        "do_train": False,
        "do_eval": True,
        "model_name_or_path": source.model,
        "finetuning_type": "lora" if source.adapters else "full",
        "template": template,
        "eval_dataset": dataset,
        "output_dir": output_dir,
        "preprocessing_num_workers": max(1, min(16, os.cpu_count() or 1)),
        "report_to": "none",
    }
    if source.adapters:
        config["adapter_name_or_path"] = ",".join(source.adapters)
    for key, value in (("max_samples", max_samples), ("per_device_eval_batch_size", batch_size),
                       ("cutoff_len", cutoff_len)):
        if value:
            config[key] = value
    config.update(extra or {})
    return config


def read_eval_metrics(output_dir: str | os.PathLike) -> dict[str, float]:
    """``eval_results.json`` without the ``eval_`` prefix, perplexity added when missing; {} if absent."""
    metrics = jsonfile.numbers(jsonfile.read_object(Path(output_dir) / EVAL_RESULTS_FILE), "eval_")
    if "loss" in metrics and "perplexity" not in metrics:
        try:
            metrics["perplexity"] = math.exp(metrics["loss"])
        except OverflowError:
            metrics["perplexity"] = float("inf")
    return metrics


def format_eval_metrics(metrics: dict[str, float]) -> str:
    if "loss" not in metrics:
        return "no loss"
    parts = [f"loss {metrics['loss']:.4f}", f"perplexity {metrics.get('perplexity', float('nan')):.2f}"]
    if "samples_per_second" in metrics:
        parts.append(f"{metrics['samples_per_second']:.2f} samples/s")
    return "  ".join(parts)


def read_metrics(output_dir: str | os.PathLike) -> dict[str, float]:
    """``predict_results.json`` without the ``predict_`` prefix; {} when it is not there yet."""
    return jsonfile.numbers(jsonfile.read_object(Path(output_dir) / RESULTS_FILE), "predict_")


def format_metrics(metrics: dict[str, float]) -> str:
    """``BLEU-4 12.34  ROUGE-1 ...`` (the scores are percentages)."""
    parts = [f"{label} {metrics[key]:.2f}" for key, label in METRICS if key in metrics]
    if "samples_per_second" in metrics:
        parts.append(f"{metrics['samples_per_second']:.2f} samples/s")
    return "  ".join(parts) if parts else "no metrics"


@dataclass(frozen=True)
class Prediction:
    index: int
    prompt: str
    predict: str
    label: str


def read_predictions(output_dir: str | os.PathLike, start: int = 0, count: int | None = None
                     ) -> list[Prediction]:
    """A page of ``generated_predictions.jsonl``; unreadable lines become a visible placeholder."""
    return list(islice(iter_predictions(output_dir), start, None if count is None else start + count))


def iter_predictions(output_dir: str | os.PathLike) -> Iterator[Prediction]:
    path = Path(output_dir) / PREDICTIONS_FILE
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    with fh:
        index = 0
        for line in fh:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError("not an object")
                yield Prediction(index, str(rec.get("prompt", "")), str(rec.get("predict", "")),
                                 str(rec.get("label", "")))
            except ValueError as exc:
                yield Prediction(index, f"(line {index + 1} is unreadable: {exc})", "", "")
            index += 1
