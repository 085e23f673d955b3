"""medtui's PPO stage on TRL's maintained ``PPOTrainer``: ``python -m medtui.engines.ppo_train CONFIG.yaml``.

llamafactory 0.9.4 and later refuse PPO unless trl <= 0.9.6, while the rest of them needs trl >= 0.18. This
entry point runs PPO with the installed trl and keeps llamafactory's contract: the YAML is a
llamafactory PPO config (parsed and checked by llamafactory's own ``get_train_args``; the one
extra key is ``ppo_kl_coef``), the prompts come from ``dataset_info.json`` through
llamafactory's data pipeline and chat template, the policy is loaded by llamafactory's
``load_model`` (adapters merged, new LoRA created from lora_rank/alpha/dropout/target), and the
output folder gets the same files: adapter (or full model), ``trainer_log.jsonl``,
``running_log.txt``, ``trainer_state.json``, ``all_results.json``, ``training_loss.png``.
SIGABRT stops after the current PPO step and saves.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

VF_COEF = 0.1  # TRL's default weight of the value loss in the PPO loss

logger = logging.getLogger("medtui.engines.ppo")
_early_abort = False


def _remember_abort(signum, frame) -> None:
    global _early_abort
    _early_abort = True


class ConfigError(ValueError):
    """A bad PPO config; reported in one line, exit code 2."""


def read_config(path: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of argument: value")
    if str(data.get("stage", "ppo")) != "ppo":
        raise ConfigError(f"{path}: this entry point runs stage ppo, not {data['stage']!r}")
    data["stage"] = "ppo"
    data.setdefault("do_train", True)
    if data.pop("ppo_score_norm", False):
        raise ConfigError("ppo_score_norm is not available with TRL's PPOTrainer; remove it "
                          "(ppo_whiten_rewards is the supported normalisation)")
    return data


def torchrun_argv(config_path: str, device_count: int) -> list[str] | None:
    """The torchrun command for several devices (or FORCE_TORCHRUN), like ``llamafactory-cli train``."""
    if "LOCAL_RANK" in os.environ:
        return None
    forced = os.environ.get("FORCE_TORCHRUN", "").lower() in ("1", "true", "y", "yes")
    if not forced and device_count <= 1:
        return None
    port = os.environ.get("MASTER_PORT") or str(_free_port())
    return [sys.executable, "-m", "torch.distributed.run",
            "--nnodes", os.environ.get("NNODES", "1"), "--node_rank", os.environ.get("NODE_RANK", "0"),
            "--nproc_per_node", os.environ.get("NPROC_PER_NODE", str(max(device_count, 1))),
            "--master_addr", os.environ.get("MASTER_ADDR", "127.0.0.1"), "--master_port", port,
            "-m", "medtui.engines.ppo_train", config_path]


def run_torchrun(argv: list[str]) -> int:
    """Run the workers under torchrun; pass a graceful stop (SIGABRT) on to them.

    torchrun starts each worker in a session of its own, so a signal to this run's process group
    does not reach them. torchrun inherits SIGABRT ignored; this launcher forwards it to every
    process below torchrun, and the workers save and stop.
    """
    import psutil

    signal.signal(signal.SIGABRT, signal.SIG_IGN)
    proc = subprocess.Popen(argv)

    def forward(signum, frame) -> None:
        try:
            children = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            try:
                child.send_signal(signal.SIGABRT)
            except psutil.Error:
                pass

    signal.signal(signal.SIGABRT, forward)
    return proc.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _setup_logging(callback) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(levelname)s|%(asctime)s] %(name)s:%(lineno)s >> %(message)s",
                                           "%Y-%m-%d %H:%M:%S"))
    logger.addHandler(handler)
    if callback.webui_mode:
        logger.addHandler(callback.logger_handler)  # running_log.txt, like llamafactory's stages
    logger.setLevel(logging.INFO)
    logger.propagate = False


def ppo_config(training_args, finetuning_args, generating_args, kl_coef: float, world_size: int):
    """TRL's PPOConfig from llamafactory's parsed arguments."""
    import torch
    from trl import PPOConfig

    batch = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps * world_size
    return PPOConfig(
        output_dir=training_args.output_dir,
        learning_rate=training_args.learning_rate,
        per_device_train_batch_size=training_args.per_device_train_batch_size,
        gradient_accumulation_steps=training_args.gradient_accumulation_steps,
        num_train_epochs=training_args.num_train_epochs,
        total_episodes=training_args.max_steps * batch if training_args.max_steps > 0 else None,
        lr_scheduler_type=training_args.lr_scheduler_type,
        warmup_steps=training_args.warmup_steps,
        max_grad_norm=training_args.max_grad_norm,
        optim=training_args.optim,
        weight_decay=training_args.weight_decay,
        logging_steps=training_args.logging_steps,
        save_strategy=training_args.save_strategy,
        save_steps=training_args.save_steps,
        save_total_limit=training_args.save_total_limit,
        seed=training_args.seed,
        bf16=bool(training_args.bf16),
        fp16=bool(training_args.fp16),
        use_cpu=bool(training_args.use_cpu) or not torch.cuda.is_available(),
        deepspeed=training_args.deepspeed,
        ddp_timeout=training_args.ddp_timeout,
        report_to=training_args.report_to,
        disable_tqdm=training_args.disable_tqdm,
        gradient_checkpointing=False,
        remove_unused_columns=False,
        num_ppo_epochs=finetuning_args.ppo_epochs,
        kl_coef=kl_coef,
        vf_coef=VF_COEF,
        whiten_rewards=finetuning_args.ppo_whiten_rewards,
        response_length=generating_args.max_new_tokens,
        temperature=generating_args.temperature,
        stop_token="eos",
        num_sample_generations=0,
    )


def load_prompts(model_args, data_args, training_args):
    """The tokenizer and the prompt dataset (``input_ids`` only), rendered by llamafactory's template."""
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.model import load_tokenizer

    tokenizer_module = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(tokenizer_module["tokenizer"], data_args)
    dataset = get_dataset(template, model_args, data_args, training_args, stage="ppo", **tokenizer_module)
    prompts = dataset["train_dataset"].select_columns(["input_ids"])
    batch = (training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps
             * training_args.world_size)
    if len(prompts) < batch:
        raise ConfigError(f"the dataset has {len(prompts)} prompt(s), fewer than one PPO batch "
                          f"(per_device_train_batch_size x gradient_accumulation_steps x devices = {batch})")
    return tokenizer_module["tokenizer"], prompts


def load_models(tokenizer, model_args, training_args, finetuning_args):
    """Policy, reference (None: TRL derives it), reward model and critic."""
    from llamafactory.hparams import FinetuningArguments
    from llamafactory.model import load_model

    from medtui.engines.ppo_models import load_reward_model, make_value_model

    model_args.disable_gradient_checkpointing = True  # TRL's policy/value wrapper cannot toggle it
    policy = load_model(tokenizer, model_args, finetuning_args, is_trainable=True)
    reward = load_reward_model(tokenizer, model_args, finetuning_args)
    value = make_value_model(reward, policy, finetuning_args.finetuning_type)
    ref_model = None  # LoRA: the policy with its adapter disabled; full: TRL copies the policy
    if training_args.parallel_mode.value == "distributed" and finetuning_args.finetuning_type == "lora":
        # TRL 0.24 reaches the adapter through the DDP wrapper (model.policy) and fails; load the reference
        ref_model = load_model(tokenizer, model_args, FinetuningArguments(), is_trainable=False)
    return policy, ref_model, reward, value


def train(config: dict[str, Any]) -> int:
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    kl_coef = float(config.pop("ppo_kl_coef", 0.05))
    from llamafactory.hparams import get_train_args

    from medtui.engines.ppo_callback import PPOLogCallback, StopTraining
    from medtui.engines.ppo_sampling import rollout_sampling
    from medtui.engines.ppo_trainer import MedtuiPPOTrainer

    try:
        model_args, data_args, training_args, finetuning_args, generating_args = get_train_args(config)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    callback = PPOLogCallback(VF_COEF, training_args.logging_steps)
    callback.aborted = callback.aborted or _early_abort  # a stop asked for while importing still counts
    _setup_logging(callback)
    output_dir = Path(training_args.output_dir)
    if config.get("overwrite_output_dir") and training_args.should_save:
        (output_dir / "trainer_log.jsonl").unlink(missing_ok=True)
    if training_args.resume_from_checkpoint:
        logger.warning("TRL's PPOTrainer cannot resume from %s; PPO starts afresh", training_args.resume_from_checkpoint)

    tokenizer, prompts = load_prompts(model_args, data_args, training_args)
    policy, ref_model, reward, value = load_models(tokenizer, model_args, training_args, finetuning_args)
    tokenizer.padding_side = "left"  # prompts are left-padded for generation
    logger.info("reward model: %s (%s); %d prompts", finetuning_args.reward_model,
                finetuning_args.reward_model_type, len(prompts))
    args = ppo_config(training_args, finetuning_args, generating_args, kl_coef, training_args.world_size)
    trainer = MedtuiPPOTrainer(args=args, processing_class=tokenizer, model=policy, ref_model=ref_model,
                               reward_model=reward, train_dataset=prompts, value_model=value, callbacks=[callback])
    gc.freeze()  # TRL runs gc.collect() twice a step; never rescan the objects that exist by now
    start = time.time()
    stopped = False
    try:
        with rollout_sampling(generating_args.top_k, generating_args.top_p):
            trainer.train()
    except StopTraining:
        stopped = True
        logger.info("stop requested (SIGABRT): saving after step %d", trainer.state.global_step)
    trainer.save_model(str(output_dir))
    if trainer.is_world_process_zero():
        trainer.save_state()
        trainer.save_metrics("train", {"epoch": trainer.state.epoch or 0.0, "train_runtime": time.time() - start,
                                       "train_steps": trainer.state.global_step, "stopped": stopped})
        if finetuning_args.plot_loss:
            from llamafactory.extras.ploting import plot_loss

            plot_loss(str(output_dir), keys=["loss", "reward", "kl"])
    logger.info("saved the PPO %s to %s", "adapter" if finetuning_args.finetuning_type == "lora" else "model",
                output_dir)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m medtui.engines.ppo_train CONFIG.yaml", file=sys.stderr)
        return 2
    signal.signal(signal.SIGABRT, _remember_abort)
    try:
        config = read_config(argv[0])
        import torch

        relaunch = torchrun_argv(argv[0], torch.cuda.device_count())
        if relaunch is not None:
            if _early_abort:
                print("stop requested before the workers started; nothing to save", file=sys.stderr)
                return 0
            return run_torchrun(relaunch)
        return train(config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
