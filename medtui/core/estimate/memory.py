"""The memory model: per-GPU peak bytes of one training step, part by part.

Sources and the reasoning behind every constant are in ``docs/memory-estimate.md``. In short:

* model states follow the ZeRO paper (Rajbhandari et al. 2019) and DeepSpeed's own estimators
  (``estimate_zero2/3_model_states_mem_needs``), with LLaMA-Factory's dtype rules (trainable
  parameters upcast to fp32 unless ``pure_bf16``, BAdam or ZeRO-3);
* activations follow Korthikanti et al. 2022 per tensor kept for backward, written out for
  gated (SwiGLU) MLPs and grouped-query attention; sdpa and FlashAttention keep no s x s matrix;
* logits: Hugging Face's causal-LM loss upcasts the logits to fp32 and keeps the log-softmax
  for backward, about ``LOGIT_BYTES`` per token and vocabulary entry;
* plus the CUDA context and the caching allocator's headroom.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from medtui.core.estimate.settings import Settings
from medtui.core.estimate.shape import Linear, ModelShape

GiB = 1024 ** 3
ACT_BYTES = 2                 # bf16 / fp16 activations
LOGIT_BYTES = 12              # bf16 logits + fp32 upcast + fp32 log-softmax kept for backward
CUDA_CONTEXT = int(0.6 * GiB)  # CUDA context + cuBLAS workspace, as NVML counts it
HEADROOM = 0.05               # caching-allocator fragmentation on top of the tensors' bytes
DS_BUFFER_FACTOR = 1.5        # DeepSpeed's additional_buffer_factor for CPU memory
QUANT_BYTES = {4: 0.5 + 0.016, 8: 1.0 + 0.03, 2: 0.25 + 0.016, 3: 0.375 + 0.016, 5: 0.625 + 0.016,
               6: 0.75 + 0.016}  # per weight, with (double-quantised) block constants

PARTS = ("weights", "gradients", "optimizer", "activations", "logits", "cuda_context", "allocator_headroom")


@dataclass
class MemoryEstimate:
    """Per-GPU peak and where it goes; ``cpu_bytes`` is what offload puts in host RAM."""

    breakdown: dict[str, int]
    cpu_bytes: int
    total_params: int
    trainable_params: int
    activations_with_gc: int
    activations_without_gc: int
    attention_matrix_bytes: int   # the s x s matrices eager attention keeps (in activations only when eager)
    notes: list[str] = field(default_factory=list)

    @property
    def per_gpu_bytes(self) -> int:
        return int(sum(self.breakdown.values()))


# -- which parameters train -------------------------------------------------------------------
def _matches(name: str, targets: tuple[str, ...]) -> bool:
    last = name.split(".")[-1]
    return "all" in targets or last in targets or name in targets


def lora_params(shape: ModelShape, s: Settings) -> int:
    """LoRA A and B over the targeted linear modules (``all``: every linear but the head)."""
    n = 0
    for name, i, o in shape.all_linears():
        if _matches(name, s.lora_target) and not (name == "gate" and "all" not in s.lora_target and
                                                   "gate" not in s.lora_target):
            n += s.lora_rank * (i + o) + (o if s.use_dora else 0)
    return n


def _extra_params(shape: ModelShape, names: tuple[str, ...]) -> int:
    """Whole modules trained besides the layers (``additional_target`` / ``freeze_extra_modules``)."""
    n = 0
    for name in names:
        key = name.split(".")[-1]
        if key in ("embed_tokens", "wte", "word_embeddings", "embedding", "tok_embeddings"):
            n += shape.embedding_params
        elif key in ("lm_head", "output", "output_layer"):
            n += shape.head_params or shape.embedding_params
        elif key in ("norm", "ln_f", "final_layernorm"):
            n += shape.hidden
    return n


def _freeze_layer_params(shape: ModelShape, modules: tuple[str, ...], index: int) -> int:
    linears = shape.layer_linears(index)
    if "all" in modules:
        return sum(i * o for _, i, o in linears) + 2 * shape.hidden
    attn = {n for n, _, _ in shape.attn_linears}
    n = 0
    for module in modules:
        if module in ("self_attn", "attention", "attn", "self_attention"):
            n += sum(i * o for name, i, o in linears if name in attn)
        elif module in ("mlp", "feed_forward", "block_sparse_moe", "ffn"):
            n += sum(i * o for name, i, o in linears if name not in attn)
        else:
            n += sum(i * o for name, i, o in linears if name.split(".")[-1] == module)
    return n


def trainable_params(shape: ModelShape, s: Settings) -> int:
    if s.method == "lora":
        return lora_params(shape, s) + _extra_params(shape, s.additional_target)
    if s.method == "freeze":
        k = s.freeze_layers
        ids = range(max(0, shape.layers - k), shape.layers) if k > 0 else range(min(-k, shape.layers))
        return sum(_freeze_layer_params(shape, s.freeze_modules, i) for i in ids) + \
            _extra_params(shape, s.freeze_extra)
    return shape.total_params


def _trainable_matrices(shape: ModelShape, s: Settings) -> list[Linear]:
    """The trainable 2-D weights (for factored / projected optimizers)."""
    if s.method == "lora":
        return [(n, i, s.lora_rank) for n, i, o in shape.all_linears() if _matches(n, s.lora_target)] + \
               [(n, s.lora_rank, o) for n, i, o in shape.all_linears() if _matches(n, s.lora_target)]
    if s.method == "freeze":
        k = s.freeze_layers
        ids = range(max(0, shape.layers - k), shape.layers) if k > 0 else range(min(-k, shape.layers))
        return [m for idx in ids for m in shape.layer_linears(idx)]
    head = [("lm_head", shape.hidden, shape.vocab)] if shape.head_params else []
    return shape.all_linears() + [("embed_tokens", shape.vocab, shape.hidden)] + head


# -- optimizer state -------------------------------------------------------------------------
def optimizer_state_bytes(name: str) -> float | None:
    """State bytes per trainable parameter held in fp32, for optimizers that are not factored."""
    n = name.lower()
    if "lomo" in n:
        return 0.0
    if "8bit" in n or "bnb_8" in n or n.endswith("_8bit"):
        return 1.0 if "lion" in n else 2.0
    if "lion" in n or "adagrad" in n or "rmsprop" in n:
        return 4.0
    if n.startswith("sgd"):
        return 0.0
    if "adafactor" in n:
        return None  # factored: computed from the shapes
    return 8.0  # AdamW in all its fused / paged / 32-bit forms


def _projected_state(matrices: list[Linear], targets: tuple[str, ...], rank: int, proj_bytes: int) -> tuple[int, int]:
    """(state bytes, parameters covered) for GaLore / APOLLO on the targeted matrices."""
    state = covered = 0
    for name, i, o in matrices:
        if name in ("embed_tokens", "lm_head") or not _matches(name, targets):
            continue
        small, large = min(i, o), max(i, o)
        r = min(rank, small)
        state += 8 * r * large + proj_bytes * r * small
        covered += i * o
    return state, covered


def optimizer_bytes(shape: ModelShape, s: Settings, trainable: int, *, state_scale: float = 1.0) -> int:
    """Optimizer states for the trainable parameters (fp32 states unless ``state_scale`` says)."""
    matrices = _trainable_matrices(shape, s)
    per_param = optimizer_state_bytes(s.optim)
    if "8bit" in s.optim.lower():
        state_scale = 1.0  # 8-bit states whatever the parameters' dtype
    if per_param is None:  # Adafactor: row + column second moments per matrix, no momentum
        state = sum(4 * (i + o) for _, i, o in matrices)
        rest = trainable - sum(i * o for _, i, o in matrices)
        return int(state + 4 * max(rest, 0))
    if s.galore or s.apollo:
        rank = s.galore_rank if s.galore else s.apollo_rank
        targets = s.galore_target if s.galore else s.apollo_target
        state, covered = _projected_state(matrices, targets, rank, 4 if s.galore else 0)
        return int(state + per_param * state_scale * max(trainable - covered, 0))
    return int(per_param * state_scale * trainable)


# -- activations ----------------------------------------------------------------------------
def layer_activation_bytes_per_token(shape: ModelShape, s: Settings) -> float:
    """Bytes one decoder layer keeps for backward per token (sdpa / FA2: no s x s matrix)."""
    h, q, kv = shape.hidden, shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    attn = ACT_BYTES * (3 * h + 2 * q + 3 * kv) + 4 * h      # norm input, q/k/v, rotary, output; fp32 norm
    def mlp_bytes(linears) -> float:
        inter = max((o for n, i, o in linears if n.split(".")[-1] in ("gate_proj", "up_proj", "w1", "w2",
                                                                     "dense_h_to_4h", "gate_up_proj")), default=0)
        if any(n.split(".")[-1] in ("gate_up_proj", "dense_h_to_4h") for n, _, _ in linears):
            inter //= 2 if shape.model_type in ("chatglm", "glm", "phi3") else 1
        return ACT_BYTES * (2 * h + 4 * inter)
    if shape.experts:
        mlp = shape.experts_per_token * mlp_bytes(shape.mlp_linears) + 4 * shape.experts
        if shape.shared_linears:
            mlp += mlp_bytes(shape.shared_linears)
        mlp += 4 * h
    else:
        mlp = mlp_bytes(shape.mlp_linears) + 4 * h
    extra = 0.0
    if s.method == "lora":
        for name, i, _o in shape.layer_linears(shape.layers - 1):
            if _matches(name, s.lora_target):
                extra += ACT_BYTES * s.lora_rank + (3 * i if s.lora_dropout > 0 else 0)
    return attn + mlp + extra


def attention_matrix_bytes(shape: ModelShape, s: Settings, seq: int) -> int:
    """Eager attention keeps scores and probabilities: 2 x heads x s x s per sequence and layer."""
    return int(2 * ACT_BYTES * shape.heads * seq * seq * s.sequences_per_step)


def activations(shape: ModelShape, s: Settings, *, checkpointing: bool, attention: str) -> int:
    seq = s.seq + s.max_new_tokens
    tokens = s.sequences_per_step * seq
    per_layer = layer_activation_bytes_per_token(shape, s) * tokens
    if attention == "eager":
        per_layer += attention_matrix_bytes(shape, s, seq)
    layer_input = ACT_BYTES * shape.hidden * tokens
    edges = 3 * layer_input  # embedding output, final norm and its fp32 input
    if checkpointing:
        total = shape.layers * layer_input + per_layer + 2 * layer_input + edges
    else:
        total = shape.layers * per_layer + edges
    if s.quant_bits:  # bitsandbytes dequantises one weight at a time for each matmul
        total += ACT_BYTES * max(i * o for _, i, o in shape.layer_linears(shape.layers - 1))
    return int(total)


def logits_bytes(shape: ModelShape, s: Settings) -> int:
    seq = s.seq + s.max_new_tokens
    tokens = s.sequences_per_step * seq
    if s.stage == "rm":
        return int(4 * tokens)  # a value head: one score per token
    if s.liger:
        return int(8 * shape.hidden * tokens)  # fused linear cross-entropy: chunks, never full logits
    total = LOGIT_BYTES * tokens * shape.vocab
    if s.stage in ("dpo", "kto", "ppo"):
        total += 4 * tokens * shape.vocab  # the reference model's log-probabilities (no grad)
    return int(total)


# -- model states -----------------------------------------------------------------------------
def _frozen_weight_bytes(shape: ModelShape, s: Settings, trainable: int) -> float:
    """The weights that do not train, in bf16 or quantised (QLoRA quantises the decoder's linears)."""
    frozen = max(shape.total_params - (trainable if s.method != "lora" else _extra_params(shape, s.additional_target)), 0)
    if s.quant_bits and s.method == "lora":
        linear = shape.linear_params
        other = max(frozen - linear, 0)
        return linear * QUANT_BYTES.get(s.quant_bits, 0.5) + ACT_BYTES * other
    return ACT_BYTES * frozen


def estimate_memory(shape: ModelShape, s: Settings) -> MemoryEstimate:
    """The per-GPU peak of ``s`` on ``shape`` (see the module docstring and docs/memory-estimate.md)."""
    notes: list[str] = []
    n = max(1, s.gpus)
    trainable = trainable_params(shape, s)
    if s.badam:
        if s.badam_mode == "ratio":
            active = int(s.badam_ratio * trainable)
        else:
            active = shape.total_params // max(shape.layers, 1)
    else:
        active = trainable
    frozen_bytes = _frozen_weight_bytes(shape, s, trainable)
    lora_like = s.method == "lora"
    cpu = 0.0

    if s.zero is not None:
        # DeepSpeed: bf16 module copy + bf16 grads; fp32 master, fp32 grads and the optimizer partitioned.
        opt = optimizer_bytes(shape, s, active) + 4 * active + (4 if s.zero in (0, 2) else 2) * active
        model16 = (frozen_bytes if lora_like else 0) + ACT_BYTES * trainable
        if not lora_like:
            model16 = ACT_BYTES * shape.total_params
        if s.zero == 3:
            largest = 4 * shape.largest_layer_params
            if s.offload:
                weights, grads, optim = largest, 0, 0
                cpu = (model16 + ACT_BYTES * active + opt) * DS_BUFFER_FACTOR / s.nodes
                notes.append("ZeRO-3 with offload keeps parameters and optimizer states in CPU RAM; expect "
                             "steps several times slower")
            else:
                weights, grads, optim = model16 / n + largest, ACT_BYTES * active / n, opt / n
        elif s.offload:  # gradients leave the GPU bucket by bucket
            weights, grads, optim = model16, 0, 0
            cpu = opt * DS_BUFFER_FACTOR / s.nodes
            notes.append("ZeRO-2 with offload keeps the optimizer states in CPU RAM; steps are slower")
        elif s.zero == 2:
            weights, grads, optim = model16, ACT_BYTES * active, opt / n
        else:  # ZeRO-0: DeepSpeed's bf16 optimizer, nothing partitioned
            weights, grads, optim = model16, ACT_BYTES * active, opt
    else:
        fp32_trainable = not (s.pure_bf16 or s.badam)
        wbytes = 4 if fp32_trainable else ACT_BYTES
        weights = frozen_bytes + wbytes * trainable
        if s.badam:  # the active block's fp32 master copy
            weights += 4 * active
        grads = (4 if fp32_trainable or s.badam else ACT_BYTES) * active
        if (s.galore and s.galore_layerwise) or (s.apollo and s.apollo_layerwise) or "lomo" in s.optim.lower():
            grads = wbytes * max(i * o for _, i, o in _trainable_matrices(shape, s))  # one layer at a time
        scale = 1.0 if fp32_trainable or s.badam else ACT_BYTES / 4  # torch keeps states in the param dtype
        optim = optimizer_bytes(shape, s, active, state_scale=scale)
        if n > 1:
            grads *= 2  # DDP's gradient buckets hold a second copy of the gradients
            notes.append(f"plain DDP: every one of the {n} GPUs holds the whole model, its gradients and "
                         f"optimizer states; more GPUs do not split the model (ZeRO-3 does)")
    if s.stage in ("dpo", "kto") and not lora_like:
        weights += ACT_BYTES * shape.total_params / (n if s.zero == 3 else 1)  # a frozen reference copy
        notes.append("DPO/KTO with full or freeze tuning loads a second (reference) model")
    if s.stage == "ppo":
        weights += 2 * ACT_BYTES * shape.total_params  # reward and value models (rough)
        notes.append("PPO holds policy, reference, reward and value models; its estimate is rough")
    if "paged" in s.optim.lower():
        notes.append("paged optimizers can spill their states to CPU RAM under memory pressure")

    act_gc = activations(shape, s, checkpointing=True, attention=s.attention)
    act_no_gc = activations(shape, s, checkpointing=False, attention=s.attention)
    act = act_gc if s.gradient_checkpointing else act_no_gc
    logits = logits_bytes(shape, s)
    dynamic = weights + grads + optim + act + logits
    breakdown = {
        "weights": int(weights),
        "gradients": int(grads),
        "optimizer": int(optim),
        "activations": int(act),
        "logits": int(logits),
        "cuda_context": CUDA_CONTEXT,
        "allocator_headroom": int(HEADROOM * dynamic),
    }
    attn_matrix = attention_matrix_bytes(shape, s, s.seq + s.max_new_tokens) * (
        1 if s.gradient_checkpointing else shape.layers)
    return MemoryEstimate(breakdown, int(cpu), shape.total_params, trainable, act_gc, act_no_gc, attn_matrix, notes)
