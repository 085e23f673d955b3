"""Count tokens with a model's tokenizer: ``python -m medtui.core.tokcount MODEL FILE COLUMN [SUFFIX]``.

Runs in a subprocess (the tokenizer libraries are heavy for the UI). Prints JSON
``{"records": N, "tokens": T, "max": M}``; each text gets SUFFIX (default: the eos token)
appended, as llamafactory's pre-training processor does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def load_tokenizer(model: Path):
    """A fast tokenizer straight from tokenizer.json when present, else transformers' AutoTokenizer."""
    if (model / "tokenizer.json").is_file():
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(model / "tokenizer.json"))
        eos = ""
        cfg = model / "tokenizer_config.json"
        if cfg.is_file():
            eos = json.loads(cfg.read_text(encoding="utf-8")).get("eos_token") or ""
            if isinstance(eos, dict):
                eos = eos.get("content", "")
        return (lambda text: len(tok.encode(text, add_special_tokens=False).ids)), eos
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(str(model), trust_remote_code=False)
    return (lambda text: len(auto(text, add_special_tokens=False)["input_ids"])), auto.eos_token or ""


def main(argv: list[str]) -> int:
    from medtui.core.datafiles import iter_records

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
