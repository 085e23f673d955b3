"""A predict run on an inference engine: ``python -m medtui.workers.predict_engine CONFIG.yaml``.

llamafactory's trainer predicts only with huggingface (``train`` refuses vllm and sglang), so a
predict run whose ``infer_backend`` is vllm or sglang runs here: llamafactory's ``ChatModel`` on
that engine answers every prompt of ``eval_dataset`` (aligned by llamafactory's own converter),
several at a time so the engine can batch them, with the run's sampling settings. It writes what
llamafactory's predict writes: ``generated_predictions.jsonl`` (prompt, predict, label),
``predict_results.json`` (BLEU-4 and ROUGE from llamafactory's own ``ComputeSimilarity``) and
progress in ``trainer_log.jsonl``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

CONCURRENCY = 16
GEN_KEYS = ("temperature", "top_p", "top_k", "max_new_tokens", "do_sample", "repetition_penalty")
MODEL_KEYS = ("model_name_or_path", "adapter_name_or_path", "finetuning_type", "template", "infer_backend",
              "infer_dtype", "trust_remote_code", "quantization_bit", "enable_thinking", "cutoff_len")


def _examples(config: dict[str, Any]) -> list[dict[str, Any]]:
    from llamafactory.hparams import DataArguments

    from medtui.workers.lf_records import converted

    data_args = DataArguments(template=config.get("template"), dataset_dir=config["dataset_dir"])
    limit = config.get("max_samples")
    out = []
    for name in [n.strip() for n in str(config["eval_dataset"]).split(",") if n.strip()]:
        for _attr, example in converted(name, config["dataset_dir"], data_args, 0, limit):
            if len(example["_prompt"]) % 2 == 1 and example["_response"]:
                out.append(example)
    return out


async def _answer_all(chat_model, examples, gen: dict[str, Any], log) -> list[str]:
    semaphore = asyncio.Semaphore(CONCURRENCY)
    answers: list[str] = [""] * len(examples)
    done = 0

    async def one(i: int, ex: dict[str, Any]) -> None:
        nonlocal done
        async with semaphore:
            responses = await chat_model.achat(ex["_prompt"], ex["_system"], ex["_tools"], **gen)
        answers[i] = responses[0].response_text if responses else ""
        done += 1
        log(done)

    await asyncio.gather(*(one(i, ex) for i, ex in enumerate(examples)))
    return answers


def _metrics(tokenizer, predictions: list[str], labels: list[str]) -> dict[str, float]:
    import numpy as np
    from llamafactory.train.sft.metric import ComputeSimilarity
    from transformers import EvalPrediction

    metric = ComputeSimilarity(tokenizer=tokenizer)
    for pred, label in zip(predictions, labels):
        ids = [tokenizer.encode(pred, add_special_tokens=False) or [tokenizer.pad_token_id]]
        ref = [tokenizer.encode(label, add_special_tokens=False) or [tokenizer.pad_token_id]]
        metric(EvalPrediction(predictions=np.array(ids), label_ids=np.array(ref)), compute_result=False)
    return metric._dump() or {}


def main(argv: list[str]) -> int:
    import yaml

    from medtui.workers.progress_log import ProgressLog

    config = yaml.safe_load(Path(argv[0]).read_text(encoding="utf-8"))
    output_dir = Path(config["output_dir"])
    output_dir.mkdir(parents=True, exist_ok=True)
    examples = _examples(config)
    if not examples:
        print(f"no usable examples in {config['eval_dataset']}", file=sys.stderr)
        return 1
    from llamafactory.chat import ChatModel

    chat_model = ChatModel({k: config[k] for k in MODEL_KEYS if config.get(k) is not None})
    gen = {k: config[k] for k in GEN_KEYS if config.get(k) is not None}
    log = ProgressLog(output_dir / "trainer_log.jsonl", len(examples))
    log.write(0)
    started = time.time()
    answers = asyncio.run_coroutine_threadsafe(
        _answer_all(chat_model, examples, gen, lambda n: log.write(n) if n % 5 == 0 or n == len(examples) else None),
        chat_model._loop).result()
    runtime = time.time() - started
    engine = chat_model.engine
    labels = [ex["_response"][0]["content"] for ex in examples]
    with open(output_dir / "generated_predictions.jsonl", "w", encoding="utf-8") as fh:
        for ex, answer, label in zip(examples, answers, labels):
            prompt_ids, _ = engine.template.encode_oneturn(engine.tokenizer, ex["_prompt"] + [
                {"role": "assistant", "content": ""}], ex["_system"], ex["_tools"])
            prompt = engine.tokenizer.decode(prompt_ids, skip_special_tokens=False)
            fh.write(json.dumps({"prompt": prompt, "predict": answer, "label": label}, ensure_ascii=False) + "\n")
    results = {f"predict_{k}": v for k, v in _metrics(engine.tokenizer, answers, labels).items()}
    results.update(predict_runtime=round(runtime, 4), predict_samples_per_second=round(len(examples) / runtime, 3))
    (output_dir / "predict_results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
