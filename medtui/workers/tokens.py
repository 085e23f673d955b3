"""Token lengths of a dataset's records with a model's tokenizer (a child process).

``python -m medtui.workers.tokens MODEL DATA ENTRY_JSON [--cutoff N] [--eos]`` prints the
:class:`~medtui.core.data.lengths.LengthCollector` summary as JSON. Callers use
:func:`medtui.core.data.tokens.token_lengths`, which runs it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from medtui.core.data.files import DataFileError

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
    from medtui.core.data.columns import record_texts
    from medtui.core.data.lengths import LengthCollector
    from medtui.core.data.reader import DatasetReader

    parser = argparse.ArgumentParser(prog="python -m medtui.workers.tokens")
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
