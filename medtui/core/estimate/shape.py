"""A model's shape from its ``config.json`` alone: layers, linear modules, parameter counts.

No weights and no transformers import: the estimate works before a model is downloaded. Each
decoder layer is described by its linear modules ``(name, in_features, out_features)`` under the
names LoRA targets use, so ``lora_target`` and ``galore_target`` can be matched by name. Families
whose modules are not named like Llama's have an alias table (``FAMILY_MODULES``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from medtui.core.errors import MedtuiError

Linear = tuple[str, int, int]  # (module name, in_features, out_features)


@dataclass(frozen=True)
class ModelShape:
    """What the estimator needs to know about a decoder-only model."""

    model_type: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tie_embeddings: bool
    attn_linears: tuple[Linear, ...]
    mlp_linears: tuple[Linear, ...]          # dense MLP (or one expert when ``experts`` > 0)
    experts: int = 0                         # routed experts per MoE layer (0: dense)
    experts_per_token: int = 0
    shared_linears: tuple[Linear, ...] = ()  # shared experts of an MoE layer
    dense_layers: int = 0                    # leading layers that stay dense in an MoE model
    dense_mlp_linears: tuple[Linear, ...] = field(default=())

    # -- parameter counts ---------------------------------------------------------------------
    @property
    def moe_layers(self) -> int:
        return self.layers - self.dense_layers if self.experts else 0

    def layer_linears(self, index: int = -1) -> list[Linear]:
        """The linear modules of one layer (an MoE layer lists every expert's modules)."""
        if self.experts and index >= self.dense_layers or (self.experts and index < 0):
            out = list(self.attn_linears) + list(self.mlp_linears) * self.experts + list(self.shared_linears)
            out.append(("gate", self.hidden, self.experts))
            return out
        return list(self.attn_linears) + list(self.dense_mlp_linears or self.mlp_linears)

    def all_linears(self) -> list[Linear]:
        """Every linear module of the decoder layers (not the output head), layer by layer."""
        return list(_all_linears(self))

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    @property
    def head_params(self) -> int:
        return 0 if self.tie_embeddings else self.vocab * self.hidden

    @property
    def norm_params(self) -> int:
        return (2 * self.layers + 1) * self.hidden

    @property
    def linear_params(self) -> int:
        return sum(i * o for _, i, o in self.all_linears())

    @property
    def total_params(self) -> int:
        return self.linear_params + self.embedding_params + self.head_params + self.norm_params

    @property
    def largest_layer_params(self) -> int:
        """The biggest single module (DeepSpeed's ``largest_layer_params``): usually the embedding."""
        biggest = max((i * o for _, i, o in self.layer_linears(self.layers - 1)), default=0)
        return max(self.embedding_params, biggest)

    def active_params_per_token(self) -> int:
        """Parameters a token passes through (MoE counts only its routed experts)."""
        if not self.experts:
            return self.total_params - self.embedding_params + (self.hidden if self.tie_embeddings else 0)
        per_expert = sum(i * o for _, i, o in self.mlp_linears)
        inactive = (self.experts - self.experts_per_token) * per_expert * self.moe_layers
        return self.total_params - self.embedding_params - inactive

    def module_names(self) -> set[str]:
        return {name for name, _, _ in self.layer_linears(self.layers - 1)} | \
               {name for name, _, _ in self.layer_linears(0)}


@lru_cache(maxsize=32)
def _all_linears(shape: ModelShape) -> tuple[Linear, ...]:
    out: list[Linear] = []
    for i in range(shape.layers):
        out += shape.layer_linears(i)
    return tuple(out)


#: Module names of families not named like Llama: (attention, mlp) builders.
def _llama(h: int, q: int, kv: int, i: int) -> tuple[tuple[Linear, ...], tuple[Linear, ...]]:
    return ((("q_proj", h, q), ("k_proj", h, kv), ("v_proj", h, kv), ("o_proj", q, h)),
            (("gate_proj", h, i), ("up_proj", h, i), ("down_proj", i, h)))


def _qwen1(h: int, q: int, kv: int, i: int):
    # Qwen (v1) counts intermediate_size over w1 and w2 together.
    half = i // 2
    return ((("c_attn", h, q + 2 * kv), ("c_proj", q, h)),
            (("w1", h, half), ("w2", h, half), ("c_proj", half, h)))


def _glm(h: int, q: int, kv: int, i: int):
    return ((("query_key_value", h, q + 2 * kv), ("dense", q, h)),
            (("dense_h_to_4h", h, 2 * i), ("dense_4h_to_h", i, h)))


def _fused(h: int, q: int, kv: int, i: int):
    return ((("qkv_proj", h, q + 2 * kv), ("o_proj", q, h)),
            (("gate_up_proj", h, 2 * i), ("down_proj", i, h)))


def _baichuan(h: int, q: int, kv: int, i: int):
    return ((("W_pack", h, q + 2 * kv), ("o_proj", q, h)),
            (("gate_proj", h, i), ("up_proj", h, i), ("down_proj", i, h)))


def _gpt(h: int, q: int, kv: int, i: int):
    return ((("query_key_value", h, q + 2 * kv), ("dense", q, h)),
            (("dense_h_to_4h", h, i), ("dense_4h_to_h", i, h)))


FAMILY_MODULES = {
    "qwen": _qwen1,
    "chatglm": _glm,
    "glm": _glm,
    "phi3": _fused,
    "baichuan": _baichuan,
    "falcon": _gpt,
    "bloom": _gpt,
    "gpt_neox": _gpt,
}

TEXT_CONFIG_KEYS = ("text_config", "llm_config", "language_config")


def _first(cfg: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        value = cfg.get(key)
        if value is not None:
            return value
    return default


def shape_from_config(cfg: dict[str, Any]) -> ModelShape:
    """Build a :class:`ModelShape` from a parsed ``config.json``; MedtuiError when keys are missing."""
    top_type = str(cfg.get("model_type") or "")
    for key in TEXT_CONFIG_KEYS:  # composite (vision-language) models: the language model's config
        if isinstance(cfg.get(key), dict):
            inner = dict(cfg[key])
            inner.setdefault("tie_word_embeddings", cfg.get("tie_word_embeddings"))
            cfg = inner
            break
    model_type = str(cfg.get("model_type") or top_type or "unknown")
    hidden = _first(cfg, "hidden_size", "n_embd", "d_model")
    layers = _first(cfg, "num_hidden_layers", "num_layers", "n_layer")
    heads = _first(cfg, "num_attention_heads", "n_head")
    vocab = _first(cfg, "vocab_size", "padded_vocab_size")
    missing = [n for n, v in (("hidden_size", hidden), ("num_hidden_layers", layers),
                              ("num_attention_heads", heads), ("vocab_size", vocab)) if not v]
    if missing:
        raise MedtuiError(f"config.json lacks {', '.join(missing)}; medtui cannot size this model "
                          f"(model_type {model_type!r})")
    hidden, layers, heads, vocab = int(hidden), int(layers), int(heads), int(vocab)
    head_dim = int(_first(cfg, "head_dim", "kv_channels", default=hidden // heads) or hidden // heads)
    kv_heads = int(_first(cfg, "num_key_value_heads", "multi_query_group_num", "num_kv_heads", default=heads))
    if cfg.get("multi_query_attention") is False:
        kv_heads = heads
    intermediate = int(_first(cfg, "intermediate_size", "ffn_hidden_size", "n_inner", default=4 * hidden)
                       or 4 * hidden)
    q_dim, kv_dim = heads * head_dim, kv_heads * head_dim
    builder = FAMILY_MODULES.get(model_type, _llama)
    attn, mlp = builder(hidden, q_dim, kv_dim, intermediate)
    tie = bool(cfg.get("tie_word_embeddings", model_type not in ("qwen", "chatglm", "glm")))
    if model_type in ("qwen", "chatglm", "glm") and "tie_word_embeddings" not in cfg:
        tie = False

    experts = int(_first(cfg, "num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts",
                         default=0) or 0)
    if experts <= 1:
        return ModelShape(model_type, hidden, layers, heads, kv_heads, head_dim, intermediate, vocab, tie,
                          attn, mlp)
    per_token = int(_first(cfg, "num_experts_per_tok", "num_experts_per_token", "moe_topk", default=2) or 2)
    expert_size = int(_first(cfg, "moe_intermediate_size", "expert_intermediate_size", default=intermediate))
    _, expert_mlp = _llama(hidden, q_dim, kv_dim, expert_size)
    shared_size = int(cfg.get("shared_expert_intermediate_size") or 0)
    if not shared_size and cfg.get("n_shared_experts"):
        shared_size = int(cfg["n_shared_experts"]) * expert_size
    shared = tuple((f"shared_expert.{n}", i, o) for n, i, o in _llama(hidden, q_dim, kv_dim, shared_size)[1]) \
        if shared_size else ()
    dense_layers = int(_first(cfg, "first_k_dense_replace", default=0) or 0)
    return ModelShape(model_type, hidden, layers, heads, kv_heads, head_dim, intermediate, vocab, tie,
                      attn, expert_mlp, experts=experts, experts_per_token=per_token, shared_linears=shared,
                      dense_layers=dense_layers, dense_mlp_linears=mlp if dense_layers else ())


def find_config(model: str | Path) -> Path:
    """The ``config.json`` for a model folder (or the file itself)."""
    path = Path(model).expanduser()
    if path.is_file():
        return path
    candidate = path / "config.json"
    if candidate.is_file():
        return candidate
    if path.is_dir():
        raise MedtuiError(f"{path} has no config.json; the estimate needs only that file of the model")
    raise MedtuiError(f"model folder not found: {model}; download just its config.json and pass that folder "
                      f"(or --model-config config.json) to estimate before downloading the weights")


def load_shape(model: str | Path) -> ModelShape:
    path = find_config(model)
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise MedtuiError(f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise MedtuiError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}") from None
    if not isinstance(cfg, dict):
        raise MedtuiError(f"{path}: expected a JSON object")
    return shape_from_config(cfg)
