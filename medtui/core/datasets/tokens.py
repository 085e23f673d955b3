"""Token lengths of a dataset's records, measured with a model's tokenizer, in a subprocess.

``python -m medtui.core.datasets.tokens MODEL DATA ENTRY_JSON [--cutoff N] [--eos]`` prints the
:class:`~medtui.core.datasets.lengths.LengthCollector` summary as JSON. The UI and CLI call
:func:`token_lengths`, which runs it (tokenizer libraries are too heavy for the UI process).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from medtui.core.datafiles import DataFileError
from medtui.core.errors import MedtuiError

BATCH = 256


def batch_counter(model: Path):
    """(count(texts) -> [int], eos token): `tokenizers` straight from tokenizer.json when present."""
    if (model / "tokenizer.json").is_file():
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(model / "tokenizer.json"))
        eos = ""
        cfg = model / "tokenizer_config.json"
        if cfg.is_file():
            eos = json.loads(cfg.read_text(encoding="utf-8")).get("eos_token") or ""
            eos = eos.get("content", "") if isinstance(eos, dict) else eos
        return (lambda texts: [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]), eos
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(str(model), trust_remote_code=False)
    return (lambda texts: [len(ids) for ids in auto(texts, add_special_tokens=False)["input_ids"]]), \
        auto.eos_token or ""


def main(argv: list[str]) -> int:
    from medtui.core.datasets.columns import record_texts
    from medtui.core.datasets.lengths import LengthCollector
    from medtui.core.datasets.reader import DatasetReader

    parser = argparse.ArgumentParser(prog="python -m medtui.core.datasets.tokens")
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("entry", help="the dataset_info.json entry as JSON")
    parser.add_argument("--cutoff", type=int, default=None)
    parser.add_argument("--eos", action="store_true", help="append the eos token to each text (pre-training)")
    args = parser.parse_args(argv)
    entry = json.loads(args.entry)
    try:
        count, eos = batch_counter(Path(args.model))
    except Exception as exc:  # noqa: BLE001 - any loader failure is a message for the user
        print(f"cannot load the tokenizer of {args.model}: {exc}", file=sys.stderr)
        return 2
    suffix = eos if args.eos else ""
    collector = LengthCollector(args.cutoff)
    pending: list[tuple[int, dict[str, str]]] = []

    def flush() -> None:
        texts = [t + suffix for _, parts in pending for t in parts.values()]
        sizes = iter(count(texts)) if texts else iter(())
        for index, parts in pending:
            collector.add(index, {role: next(sizes) for role in parts})
        pending.clear()

    try:
        for index, record in enumerate(DatasetReader(args.data).iter_records()):
            pending.append((index, record_texts(entry, record)))
            if len(pending) >= BATCH:
                flush()
        flush()
    except DataFileError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(json.dumps(collector.summary()))
    return 0


def token_lengths(model: str | Path, data: str | Path, entry: dict[str, Any], *, cutoff: int | None = None,
                  eos: bool = False, cancel: threading.Event | None = None, timeout: float = 3600) -> dict | None:
    """Run the measurement in a subprocess; None when cancelled. Raises MedtuiError on failure."""
    argv = [sys.executable, "-m", "medtui.core.datasets.tokens", str(model), str(data),
            json.dumps(entry, ensure_ascii=False)]
    if cutoff is not None:
        argv += ["--cutoff", str(cutoff)]
    if eos:
        argv.append("--eos")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                out, err = proc.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if (cancel is not None and cancel.is_set()) or time.monotonic() > deadline:
                    proc.kill()
                    proc.communicate()
                    if cancel is not None and cancel.is_set():
                        return None
                    raise MedtuiError(f"token count of {data} took longer than {timeout:.0f} s") from None
    finally:
        if proc.poll() is None:
            proc.kill()
    if proc.returncode != 0:
        message = (err or "").strip().splitlines()
        raise MedtuiError(message[-1] if message else f"token count failed (exit {proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
