"""One dataset format detector: a downloaded dataset's registration, the Datasets screen's
Register form and `medtui data suggest` guess the same dataset_info.json entry from the same records."""

from __future__ import annotations

import json

import pytest

from medtui.core.data.detect import suggest, suggest_entry

OA = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
SG = [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]
OA_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
           "system_tag": "system"}

#: records -> the entry both paths must suggest (None: not recognised, nothing to register)
SHAPES = {
    "alpaca": ([{"instruction": "q", "input": "", "output": "a"}],
               {"columns": {"prompt": "instruction", "query": "input", "response": "output"}}),
    "openai messages": ([{"messages": OA}], {"formatting": "openai", "tags": OA_TAGS, "columns": {"messages": "messages"}}),
    "openai in conversations": ([{"conversations": OA}],
                                {"formatting": "openai", "tags": OA_TAGS, "columns": {"messages": "conversations"}}),
    "sharegpt": ([{"conversations": SG}], {"formatting": "sharegpt", "columns": {"messages": "conversations"}}),
    "sharegpt under another key": ([{"dialog": SG}], {"formatting": "sharegpt", "columns": {"messages": "dialog"}}),
    "sharegpt, first record empty": ([{"conversations": []}, {"conversations": SG}],
                                     {"formatting": "sharegpt", "columns": {"messages": "conversations"}}),
    "query/response": ([{"query": "q", "response": "a"}], {"columns": {"prompt": "query", "response": "response"}}),
    "prompt/completion": ([{"prompt": "q", "completion": "a"}], {"columns": {"prompt": "prompt", "response": "completion"}}),
    "input/output": ([{"input": "q", "output": "a"}], {"columns": {"query": "input", "response": "output"}}),
    "pre-training text": ([{"text": "doc"}], {"columns": {"prompt": "text"}}),
    "kto with a bool label": ([{"instruction": "q", "output": "a", "label": True}],
                              {"columns": {"prompt": "instruction", "response": "output", "kto_tag": "label"}}),
    "sharegpt kto": ([{"conversations": SG, "kto_tag": False}],
                     {"formatting": "sharegpt", "columns": {"messages": "conversations", "kto_tag": "kto_tag"}}),
    "preference": ([{"prompt": "q", "chosen": "a", "rejected": "b"}],
                   {"ranking": True, "columns": {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"}}),
    "unrecognised": ([{"a": 1, "b": "x"}], None),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_downloads_and_the_register_form_suggest_the_same_entry(shape, tmp_path):
    records, expected = SHAPES[shape]
    data = tmp_path / "data"
    (data / "dl").mkdir(parents=True)
    (data / "dl" / "train.json").write_text(json.dumps(records), encoding="utf-8")
    [download] = suggest(data / "dl", data, "dl")
    form = suggest_entry("dl/train.json", records)
    if expected is None:
        assert download.entry is None and "unrecognised columns: a, b" in download.note
        assert form == {"file_name": "dl/train.json"}
    else:
        assert download.entry == form == {"file_name": "dl/train.json", **expected}
