"""Chat worker overhead: medtui's worker process vs ``ChatModel.stream_chat`` called directly.

Both load the same model and answer the same Chinese prompt with the same settings. Every
reply is exactly ``--tokens`` tokens long (``min_new_tokens`` = ``max_new_tokens``), so the
throughput compares like with like. Rounds alternate between the two (direct, worker, direct,
...) after a warm-up, and the medians are reported:

* time to first token: from the request to the first non-empty text piece (for the worker:
  from ``ChatClient.stream`` being called to the first ``delta`` event read by the client);
* tokens/s: reply tokens / time from the request to the end of the reply.

The anchor is the direct call, measured in the same run; the overhead is the median of the
per-round ratios (worker round vs the direct round beside it). Target: <= 10%.

    python bench/bench_chat.py                      # the tiny demo model (generated in a temp dir)
    python bench/bench_chat.py --model DIR [--adapter DIR] --rounds 20 --tokens 128
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPT = "头痛怎么办？请给出一些建议。"


def direct_round(chat_model, tokens: int, gen: dict) -> tuple[float, float]:
    started = time.perf_counter()
    first = None
    for piece in chat_model.stream_chat([{"role": "user", "content": PROMPT}], **gen):
        if piece and first is None:
            first = time.perf_counter()
    ended = time.perf_counter()
    return (first or ended) - started, tokens / (ended - started)


def worker_round(client, tokens: int, gen: dict) -> tuple[float, float]:
    started = time.perf_counter()
    first = None
    for ev in client.stream([{"role": "user", "content": PROMPT}], None, {**gen, "min_new_tokens": tokens}):
        if ev["event"] == "delta" and first is None:
            first = time.perf_counter()
    ended = time.perf_counter()
    done = client.last_done or {}
    assert done.get("usage", {}).get("completion_tokens") == tokens, done
    return (first or ended) - started, tokens / (ended - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the generated tiny demo model)")
    parser.add_argument("--adapter", action="append", default=[], help="LoRA adapter (repeatable)")
    parser.add_argument("--template", default="default")
    parser.add_argument("--rounds", type=int, default=20, help="measured rounds per side (default 20)")
    parser.add_argument("--tokens", type=int, default=128, help="tokens per reply (default 128)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads on both sides (default: torch's own choice)")
    args = parser.parse_args()

    os.environ.setdefault("TQDM_DISABLE", "1")
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the worker inherits it
    model = args.model
    if model is None:
        from medtui.core.demo import init_demo

        ws = init_demo(Path(tempfile.mkdtemp(prefix="bench-chat-")) / "ws")
        model = str(ws.models_dir / "workflow-demo-tiny-qwen2")

    from medtui.core.chat.client import ChatClient

    gen = {"max_new_tokens": args.tokens, "temperature": 0.95, "top_p": 0.7, "top_k": 50}
    load_started = time.perf_counter()
    client = ChatClient().start()
    client.load(model, args.adapter, args.template, backend="huggingface")
    worker_load = time.perf_counter() - load_started

    load_started = time.perf_counter()
    from llamafactory.chat import ChatModel

    load_args = {"model_name_or_path": model, "template": args.template, "infer_backend": "huggingface"}
    if args.adapter:
        load_args.update(adapter_name_or_path=",".join(args.adapter), finetuning_type="lora")
    chat_model = ChatModel(load_args)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    # The same fixed reply length for the direct call (GenerationConfig reads it from the engine's args).
    chat_model.engine.generating_args["min_new_tokens"] = args.tokens
    direct_load = time.perf_counter() - load_started

    for _ in range(3):  # warm-up both
        direct_round(chat_model, args.tokens, gen)
        worker_round(client, args.tokens, gen)
    direct, worker = [], []
    for i in range(args.rounds):  # alternate which side goes first, so neither always runs "warm"
        if i % 2:
            worker.append(worker_round(client, args.tokens, gen))
            direct.append(direct_round(chat_model, args.tokens, gen))
        else:
            direct.append(direct_round(chat_model, args.tokens, gen))
            worker.append(worker_round(client, args.tokens, gen))
    client.close()

    def med(rows, i):
        return statistics.median(r[i] for r in rows)

    d_ttft, w_ttft = med(direct, 0), med(worker, 0)
    d_tps, w_tps = med(direct, 1), med(worker, 1)
    # Paired: each worker round against the direct round next to it (cancels drifts in machine load).
    ttft_ratio = statistics.median(w[0] / d[0] for d, w in zip(direct, worker))
    tps_ratio = statistics.median(w[1] / d[1] for d, w in zip(direct, worker))
    print(f"model: {model}{' + ' + ','.join(args.adapter) if args.adapter else ''}")
    print(f"{args.rounds} rounds x {args.tokens} tokens per side, medians; torch threads {torch.get_num_threads()} "
          f"of {os.cpu_count()} CPUs; prompt {PROMPT!r}")
    print(f"load (incl. imports):  direct {direct_load:6.2f} s   worker {worker_load:6.2f} s")
    print(f"time to first token:   direct {d_ttft * 1000:7.1f} ms  worker {w_ttft * 1000:7.1f} ms  "
          f"paired overhead {(ttft_ratio - 1) * 100:+.1f}%")
    print(f"throughput:            direct {d_tps:7.1f} tok/s worker {w_tps:7.1f} tok/s  "
          f"paired overhead {(1 - tps_ratio) * 100:+.1f}%")
    worst = max(ttft_ratio - 1, 1 - tps_ratio)
    print(f"target <= 10% overhead: {'met' if worst <= 0.10 else 'NOT met'} (worst {worst * 100:+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
