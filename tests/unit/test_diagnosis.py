"""Failure diagnosis on real stderr excerpts from upstream issues (causes this machine cannot produce:
CUDA OOM, NCCL, a transformers version pin, Keras 3, torchrun signals). The failures this machine can
produce are diagnosed from real runs in tests/e2e/test_failures_e2e.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from medtui.core.runs import diagnosis as dx
from medtui.core.runs import oomkill

UPSTREAM = Path(__file__).resolve().parents[1] / "fixtures" / "upstream"


def excerpt(name: str) -> str:
    return "\n".join(ln for ln in (UPSTREAM / name).read_text(encoding="utf-8").splitlines()
                     if not ln.startswith("# source:"))


@pytest.mark.parametrize("name,cause,evidence", [
    ("cuda_oom_rank.log", "cuda_oom", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 270.00 MiB"),
    ("cuda_oom_progress.log", "cuda_oom", "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 112"),
    ("nccl_timeout.log", "nccl_timeout", "Watchdog caught collective operation timeout: WorkNCCL(SeqNum=1516"),
    ("nccl_system_error.log", "nccl_error", "DistBackendError: NCCL error in:"),
    ("version_pin.log", "version_pin", "transformers>=4.55.0,<=5.2.0 is required"),
    ("keras3.log", "keras3", "Your currently installed version of Keras is Keras 3"),
    ("torchrun_sigkill.log", "signal", "Signal 9 (SIGKILL) received by PID 10398"),
    ("torchrun_sighup.log", "signal", "Received Signals.SIGHUP death signal"),
    ("disk_full_torch_save.log", "disk_full", "PytorchStreamWriter failed writing file data/176"),
])
def test_upstream_excerpts(name, cause, evidence):
    found = dx.diagnose(excerpt(name), exit_code=1)
    assert found.cause == cause, found
    assert any(evidence in line for line in found.evidence), found.evidence
    assert found.reason and found.fix
    assert not any("%|" in line or "it/s]" in line for line in found.evidence)


def test_reasons_carry_the_details():
    assert "transformers>=4.55.0,<=5.2.0" in dx.diagnose(excerpt("version_pin.log"), exit_code=1).reason
    assert "DISABLE_VERSION_CHECK=1" in dx.diagnose(excerpt("version_pin.log"), exit_code=1).fix
    assert "SIGKILL" in dx.diagnose(excerpt("torchrun_sigkill.log"), exit_code=1).reason
    assert "SIGHUP" in dx.diagnose(excerpt("torchrun_sighup.log"), exit_code=1).reason
    assert "NCCL_P2P_DISABLE=1" in dx.diagnose(excerpt("nccl_system_error.log"), exit_code=1).fix


def test_torchrun_sigkill_with_kernel_evidence_is_the_oom_killer():
    found = dx.diagnose(excerpt("torchrun_sigkill.log"), exit_code=1,
                        oom_evidence=["kernel log: Out of memory: Killed process 10398 (python)"])
    assert found.cause == "oom_killer" and "likely the kernel OOM killer" in found.reason
    assert found.evidence[0].startswith("kernel log:")


def test_a_signal_death_names_the_signal_and_claims_oom_only_with_evidence():
    plain = dx.diagnose("loading...\n", exit_code=-9)
    assert plain.cause == "signal" and plain.signal == "SIGKILL" and "OOM" not in plain.reason
    oom = dx.diagnose("loading...\n", exit_code=-9, oom_evidence=["the run's memory cgroup counted 1 OOM kill(s)"])
    assert oom.cause == "oom_killer" and oom.signal == "SIGKILL"
    segv = dx.diagnose("", exit_code=-11, oom_evidence=["kernel log: Killed process 1"])
    assert segv.cause == "signal" and segv.signal == "SIGSEGV"  # OOM kills are SIGKILL, never SIGSEGV


def test_an_unrecognised_failure_quotes_the_last_error_never_a_progress_bar():
    text = ("Traceback (most recent call last):\n  File \"x.py\", line 3, in <module>\n    boom()\n"
            "KeyError: 'some_column'\n"
            " 40%|████      | 4/10 [00:02<00:03,  1.90it/s]\r 50%|█████     | 5/10 [00:02<00:02,  1.95it/s]\n")
    found = dx.diagnose(text, exit_code=1)
    assert found.cause == "unknown" and found.reason == "KeyError: 'some_column'"
    only_bars = dx.diagnose(" 10%|█         | 1/10 [00:01<00:09,  1.00it/s]\n", exit_code=3)
    assert only_bars.reason == "exit code 3"


def test_the_error_that_ended_the_run_wins_over_earlier_noise():
    text = ("NCCL WARN something harmless happened\nTraceback (most recent call last):\n"
            "  File \"t.py\", line 1, in <module>\n    x()\nValueError: Template qwen9 does not exist.\n")
    assert dx.diagnose(text, exit_code=1).cause == "template"


def test_a_clean_exit_has_no_diagnosis_unless_the_loss_was_nan():
    assert dx.diagnose("all good", exit_code=0) is None
    nan = dx.diagnose("all good", exit_code=0, alerts=[{"kind": "nan_loss", "step": 2, "message": "loss is nan"}])
    assert nan.cause == "nan_loss" and "step 2" in nan.reason


def test_diagnosis_round_trips_through_run_json():
    found = dx.diagnose(excerpt("cuda_oom_rank.log"), exit_code=1)
    again = dx.Diagnosis.from_dict(found.as_dict())
    assert again == found and dx.Diagnosis.from_dict({"no": "cause"}) is None


def test_every_rule_has_a_fix_and_compiles():
    assert {r.cause for r in dx.RULES} >= {"cuda_oom", "disk_full", "nccl_timeout", "nccl_error",
                                            "insufficient_samples", "template", "version_pin", "keras3", "signal"}
    assert all(r.fix and r.reason for r in dx.RULES)


def test_kernel_log_parsing(monkeypatch):
    lines = ("[ 3968.05] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),task=python3,pid=838,uid=0\n"
             "[ 3968.06] Memory cgroup out of memory: Killed process 838 (python3) total-vm:426192kB\n"
             "[ 3969.00] Out of memory: Killed process 999 (other) total-vm:1kB\n")

    class Done:
        returncode, stdout = 0, lines

    monkeypatch.setattr(oomkill.subprocess, "run", lambda *a, **k: Done())
    assert len(oomkill.kernel_log_kills({838})) == 2
    assert oomkill.kernel_log_kills({838}, since_boot_s=3968.5) == []
    assert oomkill.kernel_log_kills({5}) == []


def test_a_failure_while_disk_was_low_is_likely_disk_full():
    alerts = [{"kind": "disk_low", "message": "1.5 MB free on the output volume, less than the next checkpoint"}]
    found = dx.diagnose("RuntimeError: something cryptic\n", exit_code=1, alerts=alerts)
    assert found.cause == "disk_full" and "likely full" in found.reason and "1.5 MB free" in found.evidence[0]
    resolved = [dict(alerts[0], resolved=5.0)]
    assert dx.diagnose("RuntimeError: something cryptic\n", exit_code=1, alerts=resolved).cause == "unknown"


def _installed_source(module: str) -> str:
    """The source text of an installed module, found without importing it (``find_spec`` of a dotted
    name would import its parent packages)."""
    import importlib.util
    top, *rest = module.split(".")
    root = Path(next(iter(importlib.util.find_spec(top).submodule_search_locations)))
    return root.joinpath(*rest[:-1], rest[-1] + ".py").read_text(encoding="utf-8")


@pytest.mark.parametrize("module,words,raised,cause,detail", [
    # the messages as the installed llamafactory / torch raise them
    ("llamafactory.data.loader", "Cannot find valid samples, check `data/README.md`", 'RuntimeError: Cannot find valid samples, check `data/README.md` for the data format.',
     "no_valid_samples", "every example was dropped"),
    ("llamafactory.data.parser", "Undefined dataset {name} in", "ValueError: Undefined dataset medical_sft in dataset_info.json.",
     "undefined_dataset", "dataset medical_sft is not registered"),
    ("llamafactory.hparams.parser", "Some specified arguments are not used by the HfArgumentParser:",
     "ValueError: Some specified arguments are not used by the HfArgumentParser: ['--lora_rnak', '8']",
     "unknown_argument", "['--lora_rnak', '8']"),
    (None, None, "RuntimeError: [enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
           "you tried to allocate 34359738368 bytes. Error code 12 (Cannot allocate memory)",
     "host_oom", "ran out of RAM"),
])
def test_failures_named_by_the_installed_libraries_messages(module, words, raised, cause, detail):
    """The rule's pattern matches the message as raised at the end of a traceback; where the message
    comes from llamafactory, its installed source still raises it (a renamed message fails here)."""
    if module is not None:
        assert words in _installed_source(module), f"{module} no longer raises {words!r}"
    stderr = "\n".join([
        "[INFO|trainer.py:2519] >> ***** Running training *****",
        "Traceback (most recent call last):",
        '  File "/opt/venv/bin/llamafactory-cli", line 8, in <module>',
        "    sys.exit(main())",
        raised,
    ])
    found = dx.diagnose(stderr, exit_code=1)
    assert found.cause == cause, found
    assert detail in found.reason and found.fix
    assert any(raised[:40] in line for line in found.evidence), found.evidence
