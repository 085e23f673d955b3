"""Count tokens with a model's tokenizer: ``python -m medtui.workers.tokcount MODEL FILE COLUMN [SUFFIX]``.

Runs in a subprocess (the tokenizer libraries are heavy for the UI). Prints JSON
``{"records": N, "tokens": T, "max": M}``; each text gets SUFFIX (default: the eos token)
appended, as llamafactory's pre-training processor does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def load_tokenizer(model: Path):
    """(count(text) -> int, eos token), from the same loader the dataset statistics use."""
    from medtui.workers.tokens import batch_counter

    count_batch, eos = batch_counter(model)
    return (lambda text: count_batch([text])[0]), eos


def main(argv: list[str]) -> int:
    from medtui.core.data.reader import iter_records

    model, data, column = Path(argv[0]), Path(argv[1]), argv[2]
    count, eos = load_tokenizer(model)
    suffix = argv[3] if len(argv) > 3 else eos
    records = tokens = longest = 0
    for record in iter_records(data):
        value = record.get(column)
        if not isinstance(value, str):
            continue
        n = count(value + suffix)
        records += 1
        tokens += n
        longest = max(longest, n)
    print(json.dumps({"records": records, "tokens": tokens, "max": longest}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
