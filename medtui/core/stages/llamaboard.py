"""LlamaBoard's form, element by element, against medtui's stage table; and LlamaBoard folders.

:data:`MAPPED` says which argument(s) each LlamaBoard element (``component.element``, as in its
``llamaboard_config.yaml``) sets; :data:`EXCLUDED` says why medtui has no field for the others.
A target is a stage argument (:mod:`medtui.core.stages.spec`), a chat setting (``chat:NAME``,
:mod:`medtui.core.chat.settings`) or one of the Train form's own keys (:data:`FORM_KEYS`).
:func:`coverage` compares both tables with the installed LlamaBoard's elements
(:func:`medtui.core.env.llamafactory_source.webui_elements`); the contract test fails on any
element that is neither mapped nor excluded.

:func:`load_output_folder` fills the Train form from a LlamaBoard output folder: its
``training_args.yaml`` (the exact arguments LlamaBoard ran) or else its ``llamaboard_config.yaml``
(the form's state), converted with :func:`config_from_llamaboard`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from medtui.core.errors import MedtuiError

#: Keys of the Train form that are not stage arguments.
FORM_KEYS = {"stage": "the Train form's stage selector"}
CHAT_PREFIX = "chat:"

#: Element name endings that are layout or actions, never a setting.
STRUCTURAL = {
    "_btn": "a button; medtui has keys and `medtui ...` commands for every action",
    "_tab": "an accordion around other fields; medtui groups them in collapsible sections",
    "_box": "a layout box or status text; medtui shows status in its own screens",
}

MULTIMODAL = "multimodal setting; medtui does not train on images, video or audio yet"
PREVIEW = "dataset preview; the Datasets screen pages through records and renders them (Render tab)"

#: LlamaBoard element -> the arguments it sets.
MAPPED: dict[str, tuple[str, ...]] = {
    # top bar
    "top.model_path": ("model_name_or_path",),
    "top.finetuning_type": ("finetuning_type",),
    "top.checkpoint_path": ("adapter_name_or_path", "model_name_or_path"),
    "top.quantization_bit": ("quantization_bit",),
    "top.quantization_method": ("quantization_method",),
    "top.template": ("template",),
    "top.rope_scaling": ("rope_scaling",),
    "top.booster": ("flash_attn", "use_unsloth", "enable_liger_kernel"),
    # train tab
    "train.training_stage": ("stage",),
    "train.dataset_dir": ("dataset_dir",),
    "train.dataset": ("dataset",),
    "train.learning_rate": ("learning_rate",),
    "train.num_train_epochs": ("num_train_epochs",),
    "train.max_grad_norm": ("max_grad_norm",),
    "train.max_samples": ("max_samples",),
    "train.compute_type": ("bf16", "fp16", "pure_bf16"),
    "train.cutoff_len": ("cutoff_len",),
    "train.batch_size": ("per_device_train_batch_size",),
    "train.gradient_accumulation_steps": ("gradient_accumulation_steps",),
    "train.val_size": ("val_size", "eval_strategy", "eval_steps", "per_device_eval_batch_size"),
    "train.lr_scheduler_type": ("lr_scheduler_type",),
    "train.logging_steps": ("logging_steps",),
    "train.save_steps": ("save_steps",),
    "train.warmup_steps": ("warmup_steps",),
    "train.neftune_alpha": ("neftune_noise_alpha",),
    "train.packing": ("packing",),
    "train.neat_packing": ("neat_packing",),
    "train.train_on_prompt": ("train_on_prompt",),
    "train.mask_history": ("mask_history",),
    "train.resize_vocab": ("resize_vocab",),
    "train.use_llama_pro": ("use_llama_pro",),
    "train.enable_thinking": ("enable_thinking",),
    "train.report_to": ("report_to",),
    "train.project": ("project",),
    "train.trackio_space_id": ("trackio_space_id",),
    "train.freeze_trainable_layers": ("freeze_trainable_layers",),
    "train.freeze_trainable_modules": ("freeze_trainable_modules",),
    "train.freeze_extra_modules": ("freeze_extra_modules",),
    "train.lora_rank": ("lora_rank",),
    "train.lora_alpha": ("lora_alpha",),
    "train.lora_dropout": ("lora_dropout",),
    "train.loraplus_lr_ratio": ("loraplus_lr_ratio",),
    "train.create_new_adapter": ("create_new_adapter",),
    "train.use_rslora": ("use_rslora",),
    "train.use_dora": ("use_dora",),
    "train.use_pissa": ("pissa_init", "pissa_convert"),
    "train.lora_target": ("lora_target",),
    "train.additional_target": ("additional_target",),
    "train.pref_beta": ("pref_beta",),
    "train.pref_ftx": ("pref_ftx",),
    "train.pref_loss": ("pref_loss",),
    "train.reward_model": ("reward_model",),
    "train.ppo_score_norm": ("ppo_score_norm",),
    "train.ppo_whiten_rewards": ("ppo_whiten_rewards",),
    "train.use_galore": ("use_galore",),
    "train.galore_rank": ("galore_rank",),
    "train.galore_update_interval": ("galore_update_interval",),
    "train.galore_scale": ("galore_scale",),
    "train.galore_target": ("galore_target",),
    "train.use_apollo": ("use_apollo",),
    "train.apollo_rank": ("apollo_rank",),
    "train.apollo_update_interval": ("apollo_update_interval",),
    "train.apollo_scale": ("apollo_scale",),
    "train.apollo_target": ("apollo_target",),
    "train.use_badam": ("use_badam",),
    "train.badam_mode": ("badam_mode",),
    "train.badam_switch_mode": ("badam_switch_mode",),
    "train.badam_switch_interval": ("badam_switch_interval",),
    "train.badam_update_ratio": ("badam_update_ratio",),
    "train.use_swanlab": ("use_swanlab",),
    "train.swanlab_project": ("swanlab_project",),
    "train.swanlab_run_name": ("swanlab_run_name",),
    "train.swanlab_workspace": ("swanlab_workspace",),
    "train.swanlab_api_key": ("swanlab_api_key",),
    "train.swanlab_mode": ("swanlab_mode",),
    "train.output_dir": ("output_dir",),
    "train.ds_stage": ("deepspeed_stage",),
    "train.ds_offload": ("deepspeed_offload",),
    # evaluate & predict tab
    "eval.dataset_dir": ("dataset_dir",),
    "eval.dataset": ("eval_dataset",),
    "eval.cutoff_len": ("cutoff_len",),
    "eval.max_samples": ("max_samples",),
    "eval.batch_size": ("per_device_eval_batch_size",),
    "eval.predict": ("do_predict", "do_eval"),
    "eval.max_new_tokens": ("max_new_tokens",),
    "eval.top_p": ("top_p",),
    "eval.temperature": ("temperature",),
    "eval.output_dir": ("output_dir",),
    # export tab
    "export.export_size": ("export_size",),
    "export.export_quantization_bit": ("export_quantization_bit",),
    "export.export_quantization_dataset": ("export_quantization_dataset",),
    "export.export_device": ("export_device",),
    "export.export_legacy_format": ("export_legacy_format",),
    "export.export_dir": ("export_dir",),
    "export.export_hub_model_id": ("export_hub_model_id",),
    # chat tab: model loading, then the chat box
    "infer.infer_backend": ("infer_backend",),
    "infer.infer_dtype": ("infer_dtype",),
    "chatbot.max_new_tokens": ("chat:max_new_tokens",),
    "chatbot.top_p": ("chat:top_p",),
    "chatbot.temperature": ("chat:temperature",),
    "chatbot.enable_thinking": ("enable_thinking",),
}

#: LlamaBoard element -> why medtui has no field for it (beyond the :data:`STRUCTURAL` endings).
EXCLUDED: dict[str, str] = {
    "top.lang": "interface language; medtui --lang en|zh and the language key switch it",
    "top.model_name": "LlamaBoard's model catalogue name (it picks a path and a save folder); medtui takes the path",
    "top.hub_name": "hub for downloads; `medtui download --hub modelscope|hf` and the Models screen choose it",
    "train.extra_args": "free JSON of more arguments; medtui keeps every other key as an extra and has --set KEY=VALUE",
    "train.hub_private_repo": "only used with push_to_hub, which medtui's training never sets (LlamaBoard does not pass it on)",
    "train.swanlab_link": "read-only link to the SwanLab run, shown by LlamaBoard after a run starts",
    "train.current_time": "hidden timestamp LlamaBoard names output folders with; medtui suggests output folders itself",
    "train.config_path": "file name of LlamaBoard's saved form; medtui saves a standalone YAML (ctrl+s) where you choose",
    "train.device_count": "read-only count of visible devices; the Environment screen lists GPUs and `devices` picks them",
    "train.progress_bar": "progress display; medtui's Monitor and `medtui train` show progress",
    "train.loss_viewer": "loss plot; medtui's Monitor charts loss and eval_loss",
    "train.freeze_vision_tower": MULTIMODAL,
    "train.freeze_multi_modal_projector": MULTIMODAL,
    "train.freeze_language_model": MULTIMODAL,
    "train.image_max_pixels": MULTIMODAL,
    "train.image_min_pixels": MULTIMODAL,
    "train.video_max_pixels": MULTIMODAL,
    "train.video_min_pixels": MULTIMODAL,
    "eval.progress_bar": "progress display; medtui's run view and `medtui predict` / `medtui eval` show progress",
    "export.extra_args": "free JSON of more arguments; an export YAML may hold any other key",
    "infer.extra_args": "free JSON of engine arguments; not offered (vllm options pass through a chat config file)",
    "chatbot.role": "message role; medtui's Chat sends user turns",
    "chatbot.system": "system prompt; the Chat screen's system field and `medtui chat --system` (not a stage argument)",
    "chatbot.tools": "tool definitions for function calling; medtui's Chat does not offer tools yet",
    "chatbot.image": MULTIMODAL,
    "chatbot.video": MULTIMODAL,
    "chatbot.audio": MULTIMODAL,
    "chatbot.query": "the message being typed; the Chat screen's input",
    "chatbot.skip_special_tokens": "medtui's Chat always hides special tokens in replies",
    "chatbot.escape_html": "HTML escaping of a web page; a terminal shows text as it is",
    "footer.device_memory": "device memory display; the Environment screen and the Monitor show GPU memory",
    "data.preview_count": PREVIEW,
    "data.page_index": PREVIEW,
    "data.preview_samples": PREVIEW,
}


def structural_reason(element: str) -> str | None:
    name = element.split(".", 1)[-1]
    for suffix, reason in STRUCTURAL.items():
        if name.endswith(suffix):
            return reason
    return None


def exclusion(element: str) -> str | None:
    """Why ``element`` has no medtui field, or None when it is not excluded."""
    return EXCLUDED.get(element) or structural_reason(element)


@dataclass
class Coverage:
    """How the installed LlamaBoard's elements fare against :data:`MAPPED` and :data:`EXCLUDED`."""

    mapped: dict[str, tuple[str, ...]] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)  # neither mapped nor excluded: the contract fails
    stale: list[str] = field(default_factory=list)  # in the tables but no longer in LlamaBoard
    bad_targets: dict[str, list[str]] = field(default_factory=dict)  # mapped onto names medtui lacks

    @property
    def ok(self) -> bool:
        return not (self.unknown or self.stale or self.bad_targets)


def target_exists(target: str, chat_names: Iterable[str]) -> bool:
    from medtui.core.stages.spec import ARG_BY_NAME

    if target.startswith(CHAT_PREFIX):
        return target[len(CHAT_PREFIX):] in set(chat_names)
    return target in ARG_BY_NAME or target in FORM_KEYS


def coverage(elements: dict[str, list[str]], chat_names: Iterable[str]) -> Coverage:
    """Compare LlamaBoard's elements (per component file) with the tables; ``chat_names`` are the chat
    settings (:data:`medtui.core.chat.settings.GEN_BY_NAME`, passed in: stages must not import chat)."""
    chat_names = set(chat_names)
    result = Coverage()
    seen = set()
    for component, names in sorted(elements.items()):
        for name in names:
            element = f"{component}.{name}"
            seen.add(element)
            if element in MAPPED:
                result.mapped[element] = MAPPED[element]
                missing = [t for t in MAPPED[element] if not target_exists(t, chat_names)]
                if missing:
                    result.bad_targets[element] = missing
            elif exclusion(element):
                result.excluded[element] = exclusion(element) or ""
            else:
                result.unknown.append(element)
    result.stale = sorted(e for e in (*MAPPED, *EXCLUDED) if e not in seen)
    return result


def format_coverage(cov: Coverage) -> str:
    """The coverage table as Markdown (the report and ``docs/stage-arguments.md`` use it)."""
    lines = [f"{len(cov.mapped)} LlamaBoard elements map onto medtui arguments; {len(cov.excluded)} are excluded "
             f"with a reason; {len(cov.unknown)} are unknown.", "", "| LlamaBoard element | medtui |", "|---|---|"]
    for element, targets in sorted(cov.mapped.items()):
        lines.append(f"| `{element}` | {', '.join(f'`{t}`' for t in targets)} |")
    lines += ["", "| Excluded element | Why |", "|---|---|"]
    for element, reason in sorted(cov.excluded.items()):
        lines.append(f"| `{element}` | {reason.replace('|', '/')} |")
    for element in cov.unknown:
        lines.append(f"| `{element}` | **unknown: map it or exclude it** |")
    return "\n".join(lines) + "\n"


# -- LlamaBoard output folders ------------------------------------------------------------------
TRAINING_ARGS = "training_args.yaml"
LLAMABOARD_CONFIG = "llamaboard_config.yaml"
_NONE = ("none", "None", "", None)


def _training_stages() -> dict[str, str]:
    from medtui.core.env import llamafactory_source

    try:
        return dict(llamafactory_source.constants().get("TRAINING_STAGES") or {})
    except llamafactory_source.SourceUnavailable:
        return {}


def _names(value: Any) -> list[str]:
    if value in _NONE:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if str(v).strip()]
    return [p.strip() for p in str(value).split(",") if p.strip()]


def _save_path(save_dir: Path, name: str) -> str:
    """LlamaBoard names checkpoints relative to ``saves/<model>/<method>/`` unless they hold a path."""
    return name if ("/" in name or "\\" in name) else str(save_dir / name)


def config_from_llamaboard(data: dict[str, Any], *, save_dir: Path | None = None) -> dict[str, Any]:
    """A Train form config from LlamaBoard's form state (``llamaboard_config.yaml``: element id -> value).

    ``save_dir`` is the folder LlamaBoard resolves checkpoint names in (``saves/<model>/<method>``).
    Only the top bar and the Train tab are read; values keep LlamaBoard's types and are coerced later.
    """
    config: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for element, value in data.items():
        if not isinstance(element, str) or not element.startswith(("top.", "train.")):
            continue
        if element == "train.extra_args":
            try:
                parsed = json.loads(value) if isinstance(value, str) and value.strip() else {}
            except json.JSONDecodeError:
                parsed = {}
            if isinstance(parsed, dict):
                extra.update(parsed)
            continue
        targets = MAPPED.get(element)
        if not targets:
            continue
        special = _SPECIAL.get(element)
        if special is not None:
            special(config, value, data, save_dir)
        elif len(targets) == 1 and value not in _NONE:
            config[targets[0]] = ",".join(_names(value)) if isinstance(value, list) else value
    for key in ("neftune_noise_alpha", "loraplus_lr_ratio"):
        if config.get(key) in (0, 0.0, "0"):
            config.pop(key)  # LlamaBoard's 0 means off
    config.update({k: v for k, v in extra.items() if k not in config})
    return config


def _stage(config, value, data, save_dir) -> None:
    stages = _training_stages()
    config["stage"] = stages.get(value, value)


def _checkpoints(config, value, data, save_dir) -> None:
    names = _names(value)
    if not names:
        return
    paths = [_save_path(save_dir, n) if save_dir else n for n in names]
    if data.get("top.finetuning_type") in ("lora", "oft"):
        config["adapter_name_or_path"] = ",".join(paths)
    else:
        config["model_name_or_path"] = paths[0]


def _reward_model(config, value, data, save_dir) -> None:
    names = _names(value)
    if names:
        config["reward_model"] = ",".join(_save_path(save_dir, n) if save_dir else n for n in names)


def _int_or_none(key):
    def apply(config, value, data, save_dir) -> None:
        if value not in _NONE:
            config[key] = int(value)
    return apply


def _booster(config, value, data, save_dir) -> None:
    if value == "flashattn2":
        config["flash_attn"] = "fa2"
    elif value == "unsloth":
        config["use_unsloth"] = True
    elif value == "liger_kernel":
        config["enable_liger_kernel"] = True


def _compute_type(config, value, data, save_dir) -> None:
    if value in ("bf16", "fp16", "pure_bf16"):
        config[value] = True


def _pissa(config, value, data, save_dir) -> None:
    if value:
        config["pissa_init"] = config["pissa_convert"] = True


def _val_size(config, value, data, save_dir) -> None:
    if value not in _NONE:
        config["val_size"] = value  # the builder adds eval_strategy, eval_steps and the eval batch size


_SPECIAL = {
    "train.training_stage": _stage,
    "top.checkpoint_path": _checkpoints,
    "train.reward_model": _reward_model,
    "top.quantization_bit": _int_or_none("quantization_bit"),
    "train.ds_stage": _int_or_none("deepspeed_stage"),
    "top.booster": _booster,
    "train.compute_type": _compute_type,
    "train.use_pissa": _pissa,
    "train.val_size": _val_size,
}


def is_output_folder(path: Path) -> bool:
    return path.is_dir() and ((path / TRAINING_ARGS).is_file() or (path / LLAMABOARD_CONFIG).is_file())


def load_output_folder(folder: str | Path) -> dict[str, Any]:
    """The Train form config of a LlamaBoard output folder. Raises MedtuiError with the reason."""
    from medtui.core.stages.builder import load_config_file

    path = Path(folder).expanduser()
    if not path.is_dir():
        raise MedtuiError(f"not a folder: {path}")
    if (path / TRAINING_ARGS).is_file():
        config = load_config_file(path / TRAINING_ARGS)
        config.setdefault("output_dir", str(path))
        return config
    if (path / LLAMABOARD_CONFIG).is_file():
        data = load_config_file(path / LLAMABOARD_CONFIG)
        config = config_from_llamaboard(data, save_dir=path.parent)
        config["output_dir"] = str(path)
        if "model_name_or_path" not in config:
            config["model_name_or_path"] = ""  # LlamaBoard does not save the model path in its form state
        return config
    raise MedtuiError(f"{path} holds neither {TRAINING_ARGS} nor {LLAMABOARD_CONFIG}; is it a LlamaBoard output folder?")


def load_config_source(path: str | Path) -> dict[str, Any]:
    """A config to train from: a YAML file, or a LlamaBoard output folder (:func:`load_output_folder`)."""
    from medtui.core.stages.builder import load_config_file

    if Path(path).expanduser().is_dir():
        return load_output_folder(path)
    return load_config_file(path)
