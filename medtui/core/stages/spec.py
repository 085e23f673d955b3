"""The stage specification: the one table that forms, CLI, validation and docs are built from.

Each :class:`Arg` says what a llamafactory argument (or a medtui launch setting) is, which
stages and methods it applies to, its type, default and choices, and its help in English
and Chinese. ``target`` says where a value goes:

* ``yaml``  - into the llamafactory YAML the run executes;
* ``env``   - into the run's environment (devices, distributed launch);
* ``launch``- read by medtui's command builder (DeepSpeed generation).

``requires`` names a yes/no argument an argument only matters with (GaLore's rank needs
``use_galore``): its default is left out of the YAML unless that switch is on. The chat
templates come from the installed llamafactory (:func:`template_names`), never from a list here.
LlamaBoard's form elements map onto this table in :mod:`medtui.core.stages.llamaboard`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

TRAIN_STAGES = ("pt", "sft", "rm", "ppo", "dpo", "kto")
STAGES = TRAIN_STAGES + ("export",)
METHODS = ("full", "freeze", "lora")
SECTIONS = ("basic", "train", "data", "lora", "freeze", "rlhf", "eval", "optimizer", "logging", "distributed", "export",
            "advanced")

STAGE_TITLES = {
    "pt": ("Pre-Training", "预训练"),
    "sft": ("Supervised Fine-Tuning", "监督微调"),
    "rm": ("Reward Modeling", "奖励模型"),
    "ppo": ("PPO", "PPO 强化学习"),
    "dpo": ("DPO", "DPO 直接偏好优化"),
    "kto": ("KTO", "KTO 偏好优化"),
    "export": ("Export (merge LoRA)", "导出(合并 LoRA)"),
}

SECTION_TITLES = {
    "basic": ("Model and data", "模型与数据"),
    "train": ("Hyperparameters", "训练参数"),
    "data": ("Data processing", "数据处理"),
    "lora": ("LoRA", "LoRA 配置"),
    "freeze": ("Freeze", "冻结微调"),
    "rlhf": ("RLHF", "RLHF 配置"),
    "eval": ("Evaluate & predict", "评估与预测"),
    "optimizer": ("GaLore, APOLLO, BAdam", "GaLore、APOLLO、BAdam 优化器"),
    "logging": ("Logging and trackers", "日志与实验跟踪"),
    "distributed": ("Devices and distributed", "设备与分布式"),
    "export": ("Export", "导出"),
    "advanced": ("Advanced", "高级"),
}

ALL = TRAIN_STAGES


@dataclass(frozen=True)
class Arg:
    """One argument of the table."""

    name: str
    type: str  # str | int | float | bool | path | list | choice
    default: Any
    help_en: str
    help_zh: str
    stages: tuple[str, ...] = ALL
    methods: tuple[str, ...] = METHODS
    section: str = "basic"
    choices: tuple[Any, ...] = ()
    required: bool = False
    target: str = "yaml"
    minimum: float | None = None
    maximum: float | None = None
    suggestions: tuple[str, ...] = field(default=())
    requires: str | None = None
    default_stages: tuple[str, ...] | None = None  # the default goes into the YAML only for these stages
    stage_sections: tuple[tuple[str, str], ...] = ()  # (stage, section) where a stage shows it elsewhere

    def applies(self, stage: str, method: str | None = None) -> bool:
        if stage not in self.stages:
            return False
        if stage == "export" or method is None:
            return True
        return method in self.methods

    def section_for(self, stage: str) -> str:
        """The form section this argument sits in for ``stage`` (PPO's sampling is predict's in sft)."""
        return dict(self.stage_sections).get(stage, self.section)

    def help(self, lang: str = "en") -> str:
        return self.help_zh if lang == "zh" else self.help_en


SFT = ("sft",)
FULL_FREEZE = ("full", "freeze")  # GaLore, APOLLO and BAdam: llamafactory refuses them with LoRA
REPORT_TO = ("none", "tensorboard", "wandb", "mlflow", "neptune", "trackio", "swanlab", "all")

ARGS: tuple[Arg, ...] = (
    # -- model and method -------------------------------------------------------------------
    Arg("model_name_or_path", "path", None, "Base model folder (or hub id).", "基础模型路径(或模型 ID)。",
        stages=STAGES, required=True),
    Arg("adapter_name_or_path", "list", None, "LoRA adapter folder(s) to load on top of the model, comma separated.",
        "加载到基础模型上的 LoRA 适配器路径,多个用逗号分隔。", stages=STAGES),
    Arg("template", "str", "default",
        "Chat template used to format prompts; one of the installed llamafactory's templates.",
        "对话模板,用于构造提示词;取值为已安装 llamafactory 的模板之一。", stages=STAGES),
    Arg("finetuning_type", "choice", "lora", "Fine-tuning method: full, freeze or lora.",
        "微调方法:full(全参)、freeze(冻结)或 lora。", stages=STAGES, choices=METHODS),
    Arg("quantization_bit", "choice", None, "Quantize the base model on the fly (QLoRA).",
        "加载时量化基础模型(QLoRA)。", stages=STAGES, choices=(None, 2, 3, 4, 5, 6, 8), section="advanced"),
    Arg("quantization_method", "choice", "bnb",
        "On-the-fly quantization library: bnb (bitsandbytes), hqq or eetq.",
        "在线量化所用的库:bnb(bitsandbytes)、hqq 或 eetq。", stages=STAGES,
        choices=("bnb", "hqq", "eetq"), section="advanced", requires="quantization_bit"),
    Arg("rope_scaling", "choice", None, "RoPE scaling to extend the context.", "RoPE 缩放以扩展上下文长度。",
        choices=(None, "linear", "dynamic", "yarn", "llama3"), section="advanced"),
    Arg("flash_attn", "choice", "auto", "Attention implementation.", "注意力实现方式。",
        stages=STAGES, choices=("auto", "disabled", "sdpa", "fa2"), section="advanced"),
    Arg("use_unsloth", "bool", False, "Use Unsloth's optimised kernels for LoRA training (booster).",
        "使用 Unsloth 优化的内核进行 LoRA 训练(加速)。", section="advanced"),
    Arg("enable_liger_kernel", "bool", False, "Use Liger kernels (booster).", "启用 Liger 内核加速。",
        section="advanced"),
    Arg("trust_remote_code", "bool", False, "Allow model code from the model folder.", "允许执行模型目录中的代码。",
        stages=STAGES, section="advanced"),
    # -- data ---------------------------------------------------------------------------------
    Arg("dataset", "list", None, "Dataset name(s) from dataset_info.json, comma separated.",
        "dataset_info.json 中注册的数据集名称,多个用逗号分隔。", required=True),
    Arg("dataset_dir", "path", "data", "Folder holding dataset_info.json.", "存放 dataset_info.json 的目录。"),
    Arg("cutoff_len", "int", 2048, "Maximum tokens per example after tokenization.", "分词后每条样本的最大长度。",
        minimum=1),
    Arg("max_samples", "int", 100000, "Use at most this many examples per dataset.", "每个数据集最多使用的样本数。",
        minimum=1),
    Arg("packing", "bool", None, "Pack several examples into one sequence (default: on for pt).",
        "将多条样本拼接为一条序列(pt 默认开启)。", section="data"),
    Arg("neat_packing", "bool", False, "Pack without attention across examples (needs flash-attention 2).",
        "拼接样本但不跨样本计算注意力(需要 flash-attention 2)。", stages=SFT, section="data"),
    Arg("train_on_prompt", "bool", False, "Compute the loss on the prompt too (not only on the reply).",
        "在提示词上也计算损失(而不仅是回复)。", stages=SFT, section="data"),
    Arg("mask_history", "bool", False, "Train on the last turn only; earlier turns are masked.",
        "仅训练最后一轮对话,之前的轮次被遮盖。", stages=SFT, section="data"),
    Arg("enable_thinking", "bool", True,
        "Thinking mode of reasoning templates (qwen3...): false removes the thinking part from training.",
        "推理模型模板(如 qwen3)的思考模式:设为 false 时训练数据不含思考内容。", stages=STAGES, section="data"),
    Arg("preprocessing_num_workers", "int", 16, "Processes used to tokenize the data.", "数据预处理进程数。",
        minimum=1, section="data"),
    # -- optimisation -------------------------------------------------------------------------
    Arg("learning_rate", "float", 5e-5, "Peak learning rate of the optimizer.", "优化器的初始学习率。",
        minimum=0, section="train"),
    Arg("num_train_epochs", "float", 3.0, "Number of passes over the data.", "训练轮数。", minimum=0, section="train"),
    Arg("max_steps", "int", None, "Stop after this many optimizer steps (overrides epochs).",
        "最大训练步数(覆盖训练轮数)。", minimum=1, section="train"),
    Arg("per_device_train_batch_size", "int", 2, "Examples per device per step.", "每个设备的批大小。",
        minimum=1, section="train"),
    Arg("gradient_accumulation_steps", "int", 8, "Steps to accumulate before an optimizer update.",
        "梯度累积步数。", minimum=1, section="train"),
    Arg("lr_scheduler_type", "choice", "cosine", "Learning-rate schedule.", "学习率调度器。", section="train",
        choices=("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
                 "inverse_sqrt", "reduce_lr_on_plateau", "cosine_with_min_lr", "warmup_stable_decay")),
    Arg("max_grad_norm", "float", 1.0, "Gradient clipping norm.", "梯度裁剪阈值。", minimum=0, section="train"),
    Arg("warmup_steps", "int", 0, "Linear warm-up steps.", "学习率预热步数。", minimum=0, section="train"),
    Arg("optim", "str", "adamw_torch", "Optimizer name.", "优化器名称。", section="train",
        suggestions=("adamw_torch", "adamw_torch_fused", "adamw_8bit", "adafactor", "sgd", "paged_adamw_8bit")),
    Arg("disable_gradient_checkpointing", "bool", None,
        "Keep every layer's activations instead of recomputing them (faster, much more memory).",
        "保留每层激活而不重算(更快,但显存占用大得多)。", section="advanced"),
    Arg("bf16", "bool", False, "Train in bfloat16 mixed precision (Ampere or newer GPU).",
        "使用 bf16 混合精度训练(需要 Ampere 及以上 GPU)。", section="train"),
    Arg("fp16", "bool", False, "Train in float16 mixed precision.", "使用 fp16 混合精度训练。", section="train"),
    Arg("pure_bf16", "bool", None, "Train purely in bf16, without fp32 master weights (half the optimizer memory).",
        "纯 bf16 训练,不保留 fp32 主权重(优化器显存减半)。", section="train"),
    Arg("val_size", "float", 0.0,
        "Fraction (or count) of examples held out; above 0 they are evaluated every eval_steps (eval_loss).",
        "划分为验证集的样本比例(或数量);大于 0 时每 eval_steps 步评估一次(eval_loss)。", minimum=0, section="train"),
    Arg("seed", "int", 42, "Random seed.", "随机种子。", section="advanced"),
    Arg("neftune_noise_alpha", "float", None, "NEFTune: noise added to embeddings during training (e.g. 5).",
        "NEFTune:训练时向词嵌入加入的噪声强度(如 5)。", section="advanced", minimum=0),
    Arg("resize_vocab", "bool", False, "Resize the tokenizer vocabulary and the embedding layers.",
        "调整分词器词表和嵌入层的大小。", section="advanced"),
    Arg("use_llama_pro", "bool", False, "LLaMA Pro: train only the expanded blocks (freeze_trainable_layers).",
        "LLaMA Pro:仅训练扩展的模块(见 freeze_trainable_layers)。", methods=("freeze", "lora"), section="advanced"),
    # -- logging and output -------------------------------------------------------------------
    Arg("output_dir", "path", None, "Folder for checkpoints, logs and the final model.",
        "保存检查点、日志和最终模型的目录。", required=True),
    Arg("overwrite_output_dir", "bool", False, "Start afresh even if the output folder has results.",
        "覆盖输出目录中已有的结果。"),
    Arg("logging_steps", "int", 5, "Write a log record every N steps.", "每 N 步记录一次日志。", minimum=1,
        section="train"),
    Arg("save_steps", "int", 100, "Save a checkpoint every N steps (small values fill the disk).",
        "每 N 步保存一次检查点(过小会占满磁盘)。", minimum=1, section="train"),
    Arg("save_total_limit", "int", None, "Keep at most N checkpoints.", "最多保留的检查点数量。", minimum=1,
        section="train"),
    Arg("plot_loss", "bool", True, "Save a loss plot at the end.", "训练结束时保存损失曲线图。", section="logging"),
    Arg("report_to", "str", "none", "Experiment tracker: none, tensorboard, wandb, mlflow, neptune, trackio, all.",
        "实验跟踪工具:none、tensorboard、wandb、mlflow、neptune、trackio 或 all。", section="logging",
        suggestions=REPORT_TO),
    Arg("project", "str", None, "Project name for the tracker (used by Trackio).", "实验跟踪的项目名称(Trackio 使用)。",
        section="logging"),
    Arg("trackio_space_id", "str", None, "Hugging Face Space id for live Trackio logging.",
        "用于 Trackio 实时记录的 Hugging Face Space ID。", section="logging"),
    Arg("use_swanlab", "bool", False, "Log to SwanLab.", "使用 SwanLab 记录实验。", section="logging"),
    Arg("swanlab_project", "str", "llamafactory", "SwanLab project name.", "SwanLab 项目名称。", section="logging",
        requires="use_swanlab"),
    Arg("swanlab_run_name", "str", None, "SwanLab experiment name.", "SwanLab 实验名称。", section="logging",
        requires="use_swanlab"),
    Arg("swanlab_workspace", "str", None, "SwanLab workspace.", "SwanLab 工作区。", section="logging",
        requires="use_swanlab"),
    Arg("swanlab_api_key", "str", None, "SwanLab API key (kept in the run's YAML; prefer SWANLAB_API_KEY).",
        "SwanLab API 密钥(会写入运行的 YAML;建议使用环境变量 SWANLAB_API_KEY)。", section="logging",
        requires="use_swanlab"),
    Arg("swanlab_mode", "choice", "cloud", "SwanLab mode: cloud or local.", "SwanLab 模式:cloud(云端)或 local(本地)。",
        section="logging", choices=("cloud", "local"), requires="use_swanlab"),
    Arg("include_num_input_tokens_seen", "bool", True, "Count input tokens (enables throughput).",
        "统计输入 token 数(用于吞吐量)。", section="logging"),
    Arg("ddp_timeout", "int", 180000000, "Distributed timeout in seconds.", "分布式通信超时时间(秒)。",
        section="distributed"),
    Arg("resume_from_checkpoint", "path", None, "Resume from this checkpoint folder.", "从该检查点继续训练。",
        section="advanced"),
    # -- freeze -------------------------------------------------------------------------------
    Arg("freeze_trainable_layers", "int", 2, "Number of trainable layers (negative counts from the start).",
        "可训练的层数(负数表示从前往后)。", methods=("freeze",), section="freeze"),
    Arg("freeze_trainable_modules", "str", "all", "Trainable modules, comma separated.", "可训练的模块,逗号分隔。",
        methods=("freeze",), section="freeze"),
    Arg("freeze_extra_modules", "str", None, "Extra trainable modules besides the layers.", "除隐藏层外额外训练的模块。",
        methods=("freeze",), section="freeze"),
    # -- LoRA ---------------------------------------------------------------------------------
    Arg("lora_rank", "int", 8, "LoRA rank.", "LoRA 秩。", methods=("lora",), section="lora", minimum=1),
    Arg("lora_alpha", "int", None, "LoRA scaling alpha (default: rank x 2).", "LoRA 缩放系数(默认为秩的 2 倍)。",
        methods=("lora",), section="lora", minimum=1),
    Arg("lora_dropout", "float", 0.0, "Dropout in LoRA layers.", "LoRA 层的 dropout。", methods=("lora",),
        section="lora", minimum=0, maximum=1),
    Arg("lora_target", "str", "all", "Modules to attach LoRA to, comma separated.", "应用 LoRA 的模块,逗号分隔。",
        methods=("lora",), section="lora"),
    Arg("additional_target", "str", None, "Extra modules trained fully besides LoRA.", "除 LoRA 外全参训练的模块。",
        methods=("lora",), section="lora"),
    Arg("use_rslora", "bool", False, "Rank-stabilised LoRA scaling.", "使用 rsLoRA 缩放。", methods=("lora",),
        section="lora"),
    Arg("use_dora", "bool", False, "Weight-decomposed LoRA (DoRA).", "使用 DoRA。", methods=("lora",), section="lora"),
    Arg("pissa_init", "bool", False, "PiSSA initialisation of the adapter.", "使用 PiSSA 初始化适配器。",
        methods=("lora",), section="lora"),
    Arg("pissa_convert", "bool", False, "Save the PiSSA adapter converted to a plain LoRA adapter.",
        "将 PiSSA 适配器转换为普通 LoRA 适配器后保存。", methods=("lora",), section="lora", requires="pissa_init"),
    Arg("create_new_adapter", "bool", False, "Create a new adapter on top of loaded ones.", "在已加载适配器上新建适配器。",
        methods=("lora",), section="lora"),
    Arg("loraplus_lr_ratio", "float", None, "LoRA+ learning-rate ratio of B to A.", "LoRA+ 中 B 与 A 的学习率比例。",
        methods=("lora",), section="lora", minimum=0),
    # -- RLHF ---------------------------------------------------------------------------------
    Arg("pref_beta", "float", 0.1, "Beta of the preference loss.", "偏好损失中的 beta 参数。",
        stages=("dpo", "kto"), section="rlhf", minimum=0),
    Arg("pref_ftx", "float", 0.0, "Weight of the SFT loss mixed into preference training.",
        "偏好训练中混合的 SFT 损失权重。", stages=("dpo", "kto"), section="rlhf", minimum=0),
    Arg("pref_loss", "choice", "sigmoid", "DPO loss variant.", "DPO 损失类型。", stages=("dpo",), section="rlhf",
        choices=("sigmoid", "hinge", "ipo", "kto_pair", "orpo", "simpo")),
    Arg("kto_chosen_weight", "float", 1.0, "KTO weight of desirable examples.", "KTO 中正例的权重。",
        stages=("kto",), section="rlhf", minimum=0),
    Arg("kto_rejected_weight", "float", 1.0, "KTO weight of undesirable examples.", "KTO 中负例的权重。",
        stages=("kto",), section="rlhf", minimum=0),
    Arg("reward_model", "path", None,
        "Reward model: an RM run's output folder (LoRA adapter or full model, plus value_head.safetensors).",
        "奖励模型:RM 阶段的输出目录(LoRA 适配器或完整模型,以及 value_head.safetensors)。",
        stages=("ppo",), section="rlhf", required=True),
    Arg("reward_model_type", "choice", "lora",
        "How the reward model is stored: lora (adapter on this PPO's base model) or full.",
        "奖励模型的类型:lora(基于本次 PPO 基础模型的适配器)或 full(完整模型)。",
        stages=("ppo",), section="rlhf", choices=("lora", "full")),
    Arg("ppo_epochs", "int", 4, "PPO optimisation epochs per batch of rollouts.", "每批采样数据的 PPO 优化轮数。",
        stages=("ppo",), section="rlhf", minimum=1),
    Arg("ppo_kl_coef", "float", 0.05, "KL penalty coefficient against the reference (SFT) policy.",
        "相对参考策略(SFT 模型)的 KL 惩罚系数。", stages=("ppo",), section="rlhf", minimum=0),
    Arg("ppo_score_norm", "bool", False, "Normalise reward scores in PPO.", "PPO 中对奖励分数做归一化。",
        stages=("ppo",), section="rlhf"),
    Arg("ppo_whiten_rewards", "bool", False,
        "Whiten rewards before computing advantages (needs batch size x accumulation >= 8).",
        "计算优势前白化奖励(需要批大小 x 梯度累积 >= 8)。", stages=("ppo",), section="rlhf"),
    Arg("max_new_tokens", "int", 32, "Tokens generated per prompt (PPO rollouts; predict, where the default is 1024).",
        "每条提示生成的 token 数(PPO 采样;预测时默认 1024)。", stages=("ppo", "sft"), section="rlhf", minimum=1,
        default_stages=("ppo",), stage_sections=(("sft", "eval"),)),
    Arg("top_k", "int", 0, "Top-k sampling during rollouts (0: off).", "采样时的 top-k(0 表示关闭)。",
        stages=("ppo",), section="rlhf", minimum=0),
    Arg("top_p", "float", 1.0, "Top-p sampling (1: off; predict's default is 0.7).",
        "采样时的 top-p(1 表示关闭;预测时默认 0.7)。", stages=("ppo", "sft"), section="rlhf", minimum=0, maximum=1,
        default_stages=("ppo",), stage_sections=(("sft", "eval"),)),
    Arg("temperature", "float", None, "Sampling temperature when predicting (with do_sample).",
        "预测时的采样温度(配合 do_sample)。", stages=SFT, section="eval", minimum=0),
    Arg("do_sample", "bool", None, "Sample when predicting (false: greedy decoding).", "预测时采样(false 为贪心解码)。",
        stages=SFT, section="eval"),
    # -- evaluate and predict (a predict-only run also sets do_train: false; see builder) ---------
    Arg("eval_strategy", "choice", None,
        "When to evaluate the held-out data (val_size): steps (set automatically when val_size > 0), epoch or no.",
        "何时评估验证集(val_size):steps(val_size > 0 时自动设置)、epoch 或 no。", section="eval",
        choices=(None, "no", "steps", "epoch")),
    Arg("eval_steps", "int", None, "Evaluate every N steps (default: save_steps).", "每 N 步评估一次(默认与 save_steps 相同)。",
        section="eval", minimum=1),
    Arg("do_eval", "bool", None, "Evaluate (loss, perplexity) on eval_dataset.", "在 eval_dataset 上评估(损失、困惑度)。",
        stages=("pt", "sft"), section="eval"),
    Arg("do_predict", "bool", None, "Predict on eval_dataset and save generated_predictions.jsonl.",
        "在 eval_dataset 上预测并保存 generated_predictions.jsonl。", stages=SFT, section="eval"),
    Arg("predict_with_generate", "bool", None, "Generate replies when predicting (BLEU-4 and ROUGE).",
        "预测时生成回复(计算 BLEU-4 与 ROUGE)。", stages=SFT, section="eval"),
    Arg("eval_dataset", "list", None, "Dataset(s) to evaluate or predict on, comma separated.",
        "用于评估或预测的数据集,多个用逗号分隔。", section="eval"),
    Arg("per_device_eval_batch_size", "int", None, "Examples per device per evaluation/prediction step.",
        "评估/预测时每个设备的批大小。", section="eval", minimum=1),
    Arg("infer_backend", "choice", None,
        "Inference engine of predict runs: huggingface (default), vllm or sglang (GPU; runs through medtui's engine).",
        "预测使用的推理引擎:huggingface(默认)、vllm 或 sglang(需 GPU,通过 medtui 的引擎运行)。",
        stages=SFT, section="eval", choices=(None, "huggingface", "vllm", "sglang")),
    Arg("infer_dtype", "choice", None, "Weight and activation dtype of vllm/sglang predict runs.",
        "vllm/sglang 预测时权重与激活的数据类型。", stages=SFT, section="eval",
        choices=(None, "auto", "float16", "bfloat16", "float32"), requires="infer_backend"),
    # -- GaLore, APOLLO, BAdam ------------------------------------------------------------------
    Arg("use_galore", "bool", None, "GaLore: project gradients to low rank (full or freeze tuning; saves optimizer memory).",
        "GaLore:将梯度投影到低秩空间(全参或冻结微调;节省优化器显存)。", methods=FULL_FREEZE, section="optimizer"),
    Arg("galore_rank", "int", 16, "GaLore rank.", "GaLore 的秩。", methods=FULL_FREEZE, section="optimizer", minimum=1,
        requires="use_galore"),
    Arg("galore_update_interval", "int", 200, "Steps between GaLore projection updates.", "更新 GaLore 投影的间隔步数。",
        methods=FULL_FREEZE, section="optimizer", minimum=1, requires="use_galore"),
    Arg("galore_scale", "float", 2.0, "GaLore scaling coefficient.", "GaLore 缩放系数。", methods=FULL_FREEZE,
        section="optimizer", minimum=0, requires="use_galore"),
    Arg("galore_target", "str", "all", "Modules GaLore applies to, comma separated.", "应用 GaLore 的模块,逗号分隔。",
        methods=FULL_FREEZE, section="optimizer", requires="use_galore"),
    Arg("use_apollo", "bool", None, "APOLLO optimizer (SGD-like memory, AdamW-level results).",
        "APOLLO 优化器(类似 SGD 的显存占用,AdamW 级效果)。", methods=FULL_FREEZE, section="optimizer"),
    Arg("apollo_rank", "int", 16, "APOLLO rank.", "APOLLO 的秩。", methods=FULL_FREEZE, section="optimizer", minimum=1,
        requires="use_apollo"),
    Arg("apollo_update_interval", "int", 200, "Steps between APOLLO projection updates.", "更新 APOLLO 投影的间隔步数。",
        methods=FULL_FREEZE, section="optimizer", minimum=1, requires="use_apollo"),
    Arg("apollo_scale", "float", 32.0, "APOLLO scaling coefficient.", "APOLLO 缩放系数。", methods=FULL_FREEZE,
        section="optimizer", minimum=0, requires="use_apollo"),
    Arg("apollo_target", "str", "all", "Modules APOLLO applies to, comma separated.", "应用 APOLLO 的模块,逗号分隔。",
        methods=FULL_FREEZE, section="optimizer", requires="use_apollo"),
    Arg("use_badam", "bool", None, "BAdam: block-wise Adam that updates part of the model at a time.",
        "BAdam:分块 Adam,每次只更新模型的一部分。", methods=FULL_FREEZE, section="optimizer"),
    Arg("badam_mode", "choice", "layer", "BAdam mode: layer-wise or ratio-wise.", "BAdam 模式:按层(layer)或按比例(ratio)。",
        methods=FULL_FREEZE, section="optimizer", choices=("layer", "ratio"), requires="use_badam"),
    Arg("badam_switch_mode", "choice", "ascending", "Order in which layer-wise BAdam picks blocks.",
        "按层 BAdam 选择模块的顺序。", methods=FULL_FREEZE, section="optimizer",
        choices=("ascending", "descending", "random", "fixed"), requires="use_badam"),
    Arg("badam_switch_interval", "int", 50, "Steps between block switches in layer-wise BAdam (-1: never).",
        "按层 BAdam 切换模块的间隔步数(-1 表示不切换)。", methods=FULL_FREEZE, section="optimizer", minimum=-1,
        requires="use_badam"),
    Arg("badam_update_ratio", "float", 0.05, "Fraction of parameters updated by ratio-wise BAdam.",
        "按比例 BAdam 每次更新的参数比例。", methods=FULL_FREEZE, section="optimizer", minimum=0, maximum=1,
        requires="use_badam"),
    # -- devices and distributed (environment / launch) ---------------------------------------
    Arg("devices", "str", None, "GPU ids to use (CUDA_VISIBLE_DEVICES), e.g. 0,1.",
        "使用的 GPU 编号(CUDA_VISIBLE_DEVICES),如 0,1。", stages=STAGES, section="distributed", target="env"),
    Arg("force_torchrun", "bool", False, "Launch through torchrun even on one device (FORCE_TORCHRUN).",
        "即使单卡也通过 torchrun 启动(FORCE_TORCHRUN)。", section="distributed", target="env"),
    Arg("nnodes", "int", None, "Number of nodes (NNODES).", "节点数量(NNODES)。", section="distributed",
        target="env", minimum=1),
    Arg("node_rank", "int", None, "This node's rank (NODE_RANK).", "本节点序号(NODE_RANK)。", section="distributed",
        target="env", minimum=0),
    Arg("nproc_per_node", "int", None, "Processes per node (NPROC_PER_NODE).", "每节点进程数(NPROC_PER_NODE)。",
        section="distributed", target="env", minimum=1),
    Arg("master_addr", "str", None, "Address of node 0 (MASTER_ADDR).", "主节点地址(MASTER_ADDR)。",
        section="distributed", target="env"),
    Arg("master_port", "int", None, "Port on node 0 (MASTER_PORT).", "主节点端口(MASTER_PORT)。",
        section="distributed", target="env", minimum=1, maximum=65535),
    Arg("use_ray", "bool", False, "Run distributed training with Ray (USE_RAY).", "使用 Ray 进行分布式训练(USE_RAY)。",
        section="distributed", target="env"),
    Arg("deepspeed_stage", "choice", None, "Generate a DeepSpeed ZeRO config of this stage.",
        "生成该阶段的 DeepSpeed ZeRO 配置。", section="distributed", target="launch", choices=(None, 0, 2, 3)),
    Arg("deepspeed_offload", "bool", False, "Offload optimizer (and params for ZeRO-3) to CPU.",
        "将优化器(ZeRO-3 时含参数)卸载到 CPU。", section="distributed", target="launch"),
    Arg("memory_check", "bool", True,
        "Refuse to start when the memory estimate exceeds the free GPU memory (false: warn only).",
        "显存估算超过空闲显存时拒绝启动(false:仅警告)。", section="distributed", target="launch"),
    # Slurm: empty values come from the cluster profile (settings file), then Slurm's own defaults.
    Arg("launch_on", "choice", "local", "Where the run starts: this machine (local) or a Slurm cluster (slurm, sbatch).",
        "在哪里启动:本机(local)或 Slurm 集群(slurm,通过 sbatch 提交)。", stages=STAGES, section="distributed",
        target="launch", choices=("local", "slurm")),
    Arg("slurm_partition", "str", None, "Slurm partition (empty: the cluster profile's, else the default partition).",
        "Slurm 分区(留空:使用集群配置中的分区,否则用默认分区)。", stages=STAGES, section="distributed",
        target="launch"),
    Arg("slurm_nodes", "int", None, "Nodes for the Slurm job; each runs one torchrun agent (empty: profile, else 1).",
        "Slurm 作业的节点数,每个节点运行一个 torchrun(留空:集群配置,否则为 1)。", stages=STAGES,
        section="distributed", target="launch", minimum=1),
    Arg("slurm_gpus_per_node", "int", None, "GPUs per node for the Slurm job (empty: profile, else 0 = CPU).",
        "Slurm 作业每个节点的 GPU 数(留空:集群配置,否则为 0,即 CPU)。", stages=STAGES, section="distributed",
        target="launch", minimum=0),
    Arg("slurm_time", "str", None, "Time limit of the Slurm job, HH:MM:SS or D-HH:MM:SS (empty: profile, else the "
        "partition's).", "Slurm 作业的时间上限,HH:MM:SS 或 D-HH:MM:SS(留空:集群配置,否则为分区默认值)。",
        stages=STAGES, section="distributed", target="launch"),
    Arg("slurm_account", "str", None, "Slurm account to charge (empty: profile, else your default account).",
        "计费的 Slurm 账户(留空:集群配置,否则为默认账户)。", stages=STAGES, section="distributed", target="launch"),
    Arg("slurm_sbatch_args", "str", None, "Extra sbatch options, space separated, e.g. --qos=high --mem=64G "
        "(empty: profile's).", "额外的 sbatch 选项,以空格分隔,如 --qos=high --mem=64G(留空:集群配置)。",
        stages=STAGES, section="distributed", target="launch"),
    # -- export -------------------------------------------------------------------------------
    Arg("export_dir", "path", None, "Folder to write the merged model to.", "合并后模型的导出目录。",
        stages=("export",), section="export", required=True),
    Arg("export_size", "int", 5, "Shard size in GB.", "模型分片大小(GB)。", stages=("export",), section="export",
        minimum=1),
    Arg("export_device", "choice", "cpu", "Device used for merging.", "合并时使用的设备。", stages=("export",),
        section="export", choices=("cpu", "auto")),
    Arg("export_legacy_format", "bool", False, "Write .bin instead of safetensors.", "使用旧的 .bin 格式而非 safetensors。",
        stages=("export",), section="export"),
    Arg("export_hub_model_id", "str", None, "Push the export to this hub repo id.", "将导出的模型推送到该仓库 ID。",
        stages=("export",), section="export"),
    Arg("export_quantization_bit", "choice", None, "Quantize the exported model with GPTQ (needs a GPU and optimum).",
        "使用 GPTQ 量化导出的模型(需要 GPU 和 optimum)。", stages=("export",), section="export",
        choices=(None, 2, 3, 4, 8)),
    Arg("export_quantization_dataset", "str", None, "Calibration data for GPTQ: a text file or dataset (e.g. c4_demo).",
        "GPTQ 量化的校准数据:文本文件或数据集(如 c4_demo)。", stages=("export",), section="export",
        requires="export_quantization_bit"),
    Arg("export_quantization_nsamples", "int", 128, "Calibration examples for GPTQ.", "GPTQ 量化使用的校准样本数。",
        stages=("export",), section="export", minimum=1, requires="export_quantization_bit"),
    Arg("export_quantization_maxlen", "int", 1024, "Maximum tokens per GPTQ calibration example.",
        "GPTQ 校准样本的最大长度。", stages=("export",), section="export", minimum=1, requires="export_quantization_bit"),
)

ARG_BY_NAME: dict[str, Arg] = {arg.name: arg for arg in ARGS}

#: YAML arguments that are medtui's own, not llamafactory's, and why (the contract test allows only these).
MEDTUI_OWN_ARGS = {
    "ppo_kl_coef": "read by medtui's PPO engine on TRL 0.24 (llamafactory's PPO trainer needs trl<=0.9.6); "
                   "dropped from the YAML when llamafactory runs PPO",
}


def args_for(stage: str, method: str | None = None, *, section: str | None = None) -> list[Arg]:
    """The arguments that apply to ``stage`` (and ``method``), in table order."""
    return [a for a in ARGS if a.applies(stage, method) and (section is None or a.section_for(stage) == section)]


def stage_title(stage: str, lang: str = "en") -> str:
    en, zh = STAGE_TITLES[stage]
    return zh if lang == "zh" else en


def defaults_for(stage: str, method: str | None = None, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Default values (only those that are not None) of the YAML arguments for a stage.

    With ``config``, an argument that ``requires`` a switch gets its default only when that switch is
    set in ``config`` (no GaLore settings in a run without GaLore).
    """
    out = {}
    for a in args_for(stage, method):
        if a.target != "yaml" or a.default is None:
            continue
        if a.default_stages is not None and stage not in a.default_stages:
            continue
        if a.requires and config is not None and not _switched_on(config.get(a.requires)):
            continue
        out[a.name] = a.default
    return out


def _switched_on(value: Any) -> bool:
    """A requirement is met by a yes value or any other value that is set (quantization_bit: 4)."""
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "no", "0", "off", "none")
    return True


def requirement_met(arg: Arg, config: dict[str, Any]) -> bool:
    """Whether ``arg`` matters in ``config``: it has no ``requires``, or that switch is on."""
    return arg.requires is None or _switched_on(config.get(arg.requires))


@functools.lru_cache(maxsize=1)
def template_names() -> tuple[str, ...]:
    """The chat templates of the installed llamafactory (read from its source, nothing imported).

    Empty when llamafactory is not installed; callers then accept any name.
    """
    from medtui.core.env import llamafactory_source

    try:
        return llamafactory_source.templates()
    except llamafactory_source.SourceUnavailable:
        return ()
