"""A record as the model sees it: ``python -m medtui.workers.render REQUEST_JSON`` (one answer), or
``--serve`` (one JSON request per stdin line, one answer per stdout line; the tokenizer stays loaded).

Loads the model's tokenizer and llamafactory's chat template, converts the record with
llamafactory's own dataset converter and encodes it with llamafactory's own processor for the
stage (supervised, pairwise, feedback, pretrain), so the token ids and the trained/masked labels
are exactly what training uses. The parts (each turn's prompt and response) come from the
template's turn encoding and llamafactory's ``infer_seqlen`` truncation rule; they are checked
against the processor's ids, and every token's trained flag is the processor's label.

Prints one JSON object: ``sequences`` (one, or chosen and rejected for pairwise data), each with
``parts`` (turn, role, tokens, kept, trained), ``runs`` (decoded text of consecutive tokens that
share part, trained flag and cut state; special tokens kept) and ``warnings``; or ``{"error"}``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

IGNORE = -100


def _decode(tokenizer, ids: list[int]) -> str:
    return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False) if ids else ""


class Sequence:
    """One encoded sequence being annotated: parts in layout order, then checked against the processor."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.parts: list[dict[str, Any]] = []  # turn, role, ids (all), kept

    def add(self, turn: int, role: str, ids: list[int], kept: int) -> None:
        self.parts.append({"turn": turn, "role": role, "ids": list(ids), "kept": max(0, min(kept, len(ids)))})

    def to_json(self, tokenizer, input_ids: list[int], labels: list[int]) -> dict[str, Any]:
        kept_ids = [t for p in self.parts for t in p["ids"][: p["kept"]]]
        aligned = kept_ids == list(input_ids)
        parts = self.parts if aligned else [{"turn": 0, "role": "sequence", "ids": list(input_ids),
                                            "kept": len(input_ids)}]
        runs: list[dict[str, Any]] = []
        pos = 0
        out_parts = []
        for index, part in enumerate(parts):
            trained = 0
            for offset, token in enumerate(part["ids"]):
                cut = offset >= part["kept"]
                flag = False
                if not cut:
                    flag = labels[pos] != IGNORE
                    trained += flag
                    pos += 1
                if runs and runs[-1]["part"] == index and runs[-1]["trained"] == flag and runs[-1]["cut"] == cut:
                    runs[-1]["ids"].append(token)
                else:
                    runs.append({"part": index, "trained": flag, "cut": cut, "ids": [token]})
            out_parts.append({"turn": part["turn"], "role": part["role"], "tokens": len(part["ids"]),
                              "kept": part["kept"], "trained": trained})
        for run in runs:
            run["text"] = _decode(tokenizer, run["ids"])
            run["tokens"] = len(run["ids"])
        return {"name": self.name, "aligned": aligned, "parts": out_parts, "runs": runs,
                "input_ids": list(input_ids), "labels": list(labels),
                "total_tokens": sum(len(p["ids"]) for p in parts), "kept_tokens": len(input_ids)}


def _supervised(processor, template, tokenizer, data_args, ex) -> list[dict]:
    from llamafactory.data.processor.processor_utils import infer_seqlen

    input_ids, labels = processor._encode_data_example(ex["_prompt"], ex["_response"], ex["_system"], ex["_tools"],
                                                      [], [], [])
    messages = template.mm_plugin.process_messages(ex["_prompt"] + ex["_response"], [], [], [], None)
    discarding = data_args.mask_history and not template.preserve_thinking
    pairs = template.encode_multiturn(tokenizer, messages, ex["_system"], ex["_tools"], discarding)
    order = list(range(len(pairs)))[::-1] if data_args.mask_history else list(range(len(pairs)))
    total = 1 if template.efficient_eos else 0
    kept: dict[int, tuple[int, int]] = {}
    for i in order:
        if total >= data_args.cutoff_len:
            kept[i] = (0, 0)
            continue
        source_len, target_len = infer_seqlen(len(pairs[i][0]), len(pairs[i][1]), data_args.cutoff_len - total)
        kept[i] = (source_len, target_len)
        total += source_len + target_len
    seq = Sequence("sample")
    for i, (source, target) in enumerate(pairs):
        seq.add(i + 1, "prompt", source, kept[i][0])
        seq.add(i + 1, "response", target, kept[i][1])
    if template.efficient_eos:
        seq.add(len(pairs), "eos", [tokenizer.eos_token_id], 1)
    return [seq.to_json(tokenizer, input_ids, labels)]


def _oneturn(tokenizer, template, data_args, messages, ex, name, input_ids, labels, target_len_of=None):
    from llamafactory.data.processor.processor_utils import infer_seqlen

    prompt_ids, response_ids = template.encode_oneturn(tokenizer, messages, ex["_system"], ex["_tools"])
    if template.efficient_eos:
        response_ids = response_ids + [tokenizer.eos_token_id]
    source_len, target_len = infer_seqlen(len(prompt_ids), target_len_of or len(response_ids), data_args.cutoff_len)
    seq = Sequence(name)
    seq.add(max(1, (len(messages) + 1) // 2), "prompt", prompt_ids, source_len)
    seq.add(max(1, (len(messages) + 1) // 2), "response", response_ids, target_len)
    return seq.to_json(tokenizer, input_ids, labels)


def _pairwise(processor, template, tokenizer, data_args, ex) -> list[dict]:
    chosen_ids, chosen_labels, rejected_ids, rejected_labels = processor._encode_data_example(
        ex["_prompt"], ex["_response"], ex["_system"], ex["_tools"], [], [], [])
    out = []
    longest = 0
    encoded = []
    for i in range(2):
        messages = template.mm_plugin.process_messages(ex["_prompt"] + [ex["_response"][i]], [], [], [], None)
        _, response = template.encode_oneturn(tokenizer, messages, ex["_system"], ex["_tools"])
        encoded.append(messages)
        longest = max(longest, len(response) + (1 if template.efficient_eos else 0))
    for messages, name, ids, labels in ((encoded[0], "chosen", chosen_ids, chosen_labels),
                                        (encoded[1], "rejected", rejected_ids, rejected_labels)):
        out.append(_oneturn(tokenizer, template, data_args, messages, ex, name, ids, labels, target_len_of=longest))
    return out


def _feedback(processor, template, tokenizer, data_args, ex) -> list[dict]:
    kl = ex["_response"]  # the KL pair only matters across a batch; show the example itself
    input_ids, labels, _kl_ids, _kl_labels, tag = processor._encode_data_example(
        ex["_prompt"], ex["_response"], kl, ex["_system"], ex["_tools"], [], [], [])
    response = ex["_response"][0] if ex["_response"][0]["content"] else ex["_response"][1]
    messages = template.mm_plugin.process_messages(ex["_prompt"] + [response], [], [], [], None)
    seq = _oneturn(tokenizer, template, data_args, messages, ex, "desirable" if tag else "undesirable",
                   input_ids, labels)
    return [seq]


def _pretrain(tokenizer, data_args, ex) -> list[dict]:
    """A pt record is its text plus EOS, trained whole; with packing it joins others in cutoff-long blocks."""
    eos = "<|end_of_text|>" if data_args.template == "llama3" else tokenizer.eos_token
    ids = tokenizer(ex["_prompt"][0]["content"] + (eos or ""), add_special_tokens=False)["input_ids"]
    kept = len(ids) if data_args.packing else min(len(ids), data_args.cutoff_len)
    seq = Sequence("text")
    seq.add(1, "text", ids, kept)
    return [seq.to_json(tokenizer, ids[:kept], ids[:kept])]


def _chat_template_warnings(tokenizer, own: str | None, ex, name: str, decoded: str) -> list[str]:
    """Signs that ``template`` does not fit this model's tokenizer (``own``: its chat template before
    llamafactory replaced it with the chosen template's)."""
    import re

    warnings = []
    unknown = sorted({m for m in re.findall(r"<\|[^|<>\s]{1,40}\|>", decoded)
                      if tokenizer.convert_tokens_to_ids(m) in (None, tokenizer.unk_token_id)})
    if unknown:
        warnings.append(f"template {name} uses {', '.join(unknown)}, which this tokenizer does not know as "
                        f"special tokens: it is a different model family's template (or a base model)")
    if not own and name not in ("default", "empty", "fewshot", "alpaca", "vicuna") and not unknown:
        warnings.append(f"this tokenizer has no chat template of its own (a base model?): template {name}'s role "
                        f"markers are new to it, and the model only learns them from your data; "
                        f"for plain continuation use default or empty")
    if own:
        messages = []
        if ex["_system"]:
            messages.append({"role": "system", "content": ex["_system"]})
        messages += [{"role": m["role"], "content": m["content"]} for m in ex["_prompt"] + ex["_response"][:1]
                     if m["role"] in ("user", "assistant")]
        try:
            theirs = tokenizer.apply_chat_template(messages, tokenize=False, chat_template=own)
        except Exception:  # noqa: BLE001 - a broken jinja template is itself worth a warning
            theirs = None
        if theirs is None:
            warnings.append("the tokenizer's own chat template fails on this record")
        elif _core(theirs) != _core(decoded):
            warnings.append(f"the model's own chat template renders this record differently from template {name}; "
                            f"train and chat with the template the model was built with")
    return warnings


def _core(text: str) -> str:
    """Text compared without surrounding whitespace, BOS/EOS-like tokens at the ends, or empty thoughts."""
    import re

    text = re.sub(r"<think>\s*</think>\s*", "", text)
    return re.sub(r"\s+", " ", text).strip()


_TOKENIZERS: dict[tuple, tuple] = {}


def render(request: dict[str, Any]) -> dict[str, Any]:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.data.processor import (
        FeedbackDatasetProcessor,
        PairwiseDatasetProcessor,
        SupervisedDatasetProcessor,
    )
    from llamafactory.hparams import DataArguments, ModelArguments
    from llamafactory.model import load_tokenizer

    from medtui.workers.lf_records import converted

    stage = request.get("stage") or "sft"
    data_args = DataArguments(template=request.get("template") or "default", dataset=request["dataset"],
                              dataset_dir=request["dataset_dir"], cutoff_len=int(request.get("cutoff_len") or 2048),
                              train_on_prompt=bool(request.get("train_on_prompt")),
                              mask_history=bool(request.get("mask_history")),
                              enable_thinking=request.get("enable_thinking", True),
                              packing=bool(request.get("packing")) if request.get("packing") is not None else None)
    index = int(request.get("index") or 0)
    found = list(converted(request["dataset"], request["dataset_dir"], data_args, index, 1))
    if not found:
        raise ValueError(f"{request['dataset']} has no record #{index} (it has fewer records)")
    attr, example = found[0]

    key = (request["model"], bool(request.get("trust_remote_code")), data_args.template, data_args.enable_thinking)
    if key not in _TOKENIZERS:
        model_args = ModelArguments(model_name_or_path=request["model"], trust_remote_code=key[1])
        tokenizer = load_tokenizer(model_args)["tokenizer"]
        own = getattr(tokenizer, "chat_template", None)  # before llamafactory swaps in its own
        _TOKENIZERS.clear()  # one model at a time
        _TOKENIZERS[key] = (tokenizer, own, get_template_and_fix_tokenizer(tokenizer, data_args))
    tokenizer, own_chat_template, template = _TOKENIZERS[key]
    if stage == "pt":
        sequences = _pretrain(tokenizer, data_args, example)
        warnings: list[str] = []
    else:
        if stage in ("rm", "dpo") or attr.ranking:
            if len(example["_response"]) < 2:
                raise ValueError("this record has no chosen/rejected pair")
            processor = PairwiseDatasetProcessor(template=template, tokenizer=tokenizer, processor=None,
                                                 data_args=data_args)
            sequences = _pairwise(processor, template, tokenizer, data_args, example)
        elif stage == "kto":
            processor = FeedbackDatasetProcessor(template=template, tokenizer=tokenizer, processor=None,
                                                 data_args=data_args)
            sequences = _feedback(processor, template, tokenizer, data_args, example)
        else:
            if len(example["_prompt"]) % 2 != 1 or len(example["_response"]) != 1:
                raise ValueError("llamafactory drops this record: it needs an odd number of prompt turns and "
                                 "exactly one response")
            processor = SupervisedDatasetProcessor(template=template, tokenizer=tokenizer, processor=None,
                                                   data_args=data_args)
            sequences = _supervised(processor, template, tokenizer, data_args, example)
        decoded = _decode(tokenizer, [t for r in sequences[0]["runs"] for t in r["ids"]])
        warnings = _chat_template_warnings(tokenizer, own_chat_template, example, data_args.template, decoded)
    return {"dataset": request["dataset"], "index": index, "stage": stage, "template": data_args.template,
            "model": request["model"], "cutoff_len": data_args.cutoff_len, "formatting": attr.formatting,
            "train_on_prompt": data_args.train_on_prompt, "mask_history": data_args.mask_history,
            "efficient_eos": bool(template.efficient_eos), "sequences": sequences, "warnings": warnings}


def answer(line: str) -> tuple[dict[str, Any], bool]:
    """(the answer to one request, whether it succeeded); every failure becomes one line."""
    try:
        return render(json.loads(line)), True
    except Exception as exc:  # noqa: BLE001 - every failure is reported as one line
        from medtui.core.data.files import DataFileError

        plain = isinstance(exc, (ValueError, KeyError, DataFileError))
        return {"error": str(exc) if plain else f"{type(exc).__name__}: {exc}"}, False


def main(argv: list[str]) -> int:
    out, sys.stdout = sys.stdout, sys.stderr  # libraries print; only answers go to stdout
    if argv and argv[0] == "--serve":
        for line in sys.stdin:
            if line.strip():
                result, _ok = answer(line)
                out.write(json.dumps(result, ensure_ascii=False) + "\n")
                out.flush()
        return 0
    result, ok = answer(argv[0])
    out.write(json.dumps(result, ensure_ascii=False) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
