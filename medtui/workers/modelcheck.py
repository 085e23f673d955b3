"""Load a model folder's config and tokenizer: ``python -m medtui.workers.modelcheck PATH``.

Runs in its own process because it imports transformers. Prints one JSON object:
``{"config": {...}, "tokenizer": {...}}`` or ``{"error": "...", "stage": "config"|"tokenizer"}``.
Nothing is downloaded (``local_files_only``) and no remote code runs.
"""

from __future__ import annotations

import json
import os
import sys


def main(path: str) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    out: dict = {}
    stage = "import"
    try:
        from transformers import AutoConfig, AutoTokenizer

        stage = "config"
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        out["config"] = {"class": type(config).__name__, "model_type": getattr(config, "model_type", None)}
        stage = "tokenizer"
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        out["tokenizer"] = {
            "class": type(tok).__name__,
            "vocab_size": len(tok),
            "eos_token": tok.eos_token,
            "pad_token": tok.pad_token,
            "model_max_length": tok.model_max_length if tok.model_max_length < 10**9 else None,
            "has_chat_template": bool(getattr(tok, "chat_template", None)),
        }
    except Exception as exc:  # report any loader failure as data, never a traceback
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        out.update(error=f"{type(exc).__name__}: {message}"[:500], stage=stage)
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
