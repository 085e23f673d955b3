"""A benchmark run: ``python -m medtui.workers.bench_eval CONFIG.yaml``.

Runs llamafactory's own ``Evaluator`` (``llamafactory-cli eval`` is disabled in 0.9.5) on the
run's task folder. Its subject loop is followed through the progress bar it iterates, and each
subject started is written to ``<output_dir>/trainer_log.jsonl`` in llamafactory's format
(current_steps, total_steps, percentage, elapsed_time, remaining_time), so the run shows
progress like a training run. At the end the per-subject accuracy goes to
``bench_results.json`` and stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from medtui.workers.progress_log import ProgressLog


def follow_subjects(evaluator_module, log: ProgressLog) -> None:
    """Wrap the evaluator's subject bar (the ``tqdm`` over mapping.json's keys) to log each subject."""
    base = evaluator_module.tqdm

    class SubjectBar(base):
        def __iter__(self):
            outer = isinstance(getattr(self, "iterable", None), type({}.keys()))  # the subjects, not a trange
            done = 0
            for item in super().__iter__():
                if outer:
                    log.write(done, str(item))
                yield item
                done += 1
            if outer:
                log.write(done)

    evaluator_module.tqdm = SubjectBar


def main(argv: list[str]) -> int:
    import yaml

    from medtui.core import benchmark

    config = yaml.safe_load(Path(argv[0]).read_text(encoding="utf-8"))
    output_dir = Path(config["output_dir"])
    source = Path(config["source_task_dir"])
    name, split = config["task"].split("_", 1)
    chosen = list(config["subjects"])
    benchmark.run_task_folder(source, Path(argv[0]).parent, name, chosen)
    args = {k: v for k, v in config.items() if k not in benchmark.MEDTUI_KEYS}

    from llamafactory.eval import evaluator as evaluator_module

    log = ProgressLog(output_dir / "trainer_log.jsonl", len(chosen))
    follow_subjects(evaluator_module, log)
    evaluator_module.Evaluator(args).eval()

    predictions = json.loads((Path(config["save_dir"]) / "results.json").read_text(encoding="utf-8"))
    scores = benchmark.subject_scores(source, predictions, split)
    benchmark.write_results(output_dir, scores, {"task": name, "split": split, "n_shot": config.get("n_shot"),
                                                 "model": config["model_name_or_path"],
                                                 "adapters": config.get("adapter_name_or_path")})
    print(benchmark.format_table(benchmark.read_results(output_dir)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
