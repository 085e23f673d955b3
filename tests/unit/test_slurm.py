"""Slurm without a cluster: the sbatch script (run with stand-in srun/scontrol), parsing Slurm's output,
mapping its states, the cluster profile and the pre-flight checks. tests/e2e/test_slurm_e2e.py runs
the same code against a real single-node Slurm."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from medtui.core.errors import MedtuiError
from medtui.core.runs import slurm_status
from medtui.core.runs.recordfile import STOP_MARKER, read_record, write_record
from medtui.core.slurm import commands, profile
from medtui.core.slurm.commands import JobInfo, Partition
from medtui.core.slurm.script import EXIT_FILE, SlurmOptions, llamafactory_launcher, render, uses_torchrun
from medtui.core.stages import slurm_checks
from medtui.core.stages.builder import build_plan
from medtui.core.stages.launch import backend_name, preview, slurm_options
from medtui.core.workspace import Workspace

ODD = "my ws; 'quoted' $HOME"


def sft(**over):
    cfg = {"stage": "sft", "finetuning_type": "lora", "model_name_or_path": "models/tiny", "dataset": "d",
           "template": "default", "output_dir": "saves/out", "max_steps": 3}
    cfg.update(over)
    return cfg


@pytest.fixture(autouse=True)
def _own_settings(tmp_path, monkeypatch):
    """Each test has its own settings file (the cluster profile lives there)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture
def ws(tmp_path) -> Workspace:
    root = tmp_path / ODD
    root.mkdir()
    ws = Workspace.open(root)
    ws.ensure_layout()
    return ws


# -- the script, executed with stand-ins for srun and scontrol ------------------------------------------

SRUN = """#!/bin/bash
# Stand-in srun: drop srun's own options, then run the command once per task like Slurm would.
while [[ "$1" == --* ]]; do shift; done
for ((i = 0; i < ${SLURM_NTASKS:-1}; i++)); do SLURM_PROCID=$i "$@" || exit $?; done
"""
RECORDER = """#!/bin/bash
# Stand-in for a program: record its argv (NUL separated) and some of its environment.
out="$RECORD_DIR/task.${SLURM_PROCID:-0}"
printf '%s\\0' "$@" > "$out.argv"
env > "$out.env"
exit "${RECORD_EXIT:-0}"
"""


def _exe(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def run_script(tmp_path: Path, plan, options: SlurmOptions, *, tasks: int, exit_code: int = 0):
    """Run the generated script with bash, stand-in srun/scontrol on PATH and the program replaced by a recorder."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record_dir = tmp_path / "record"
    record_dir.mkdir()
    _exe(bin_dir / "srun", SRUN)
    _exe(bin_dir / "scontrol", "#!/bin/bash\necho node-a\necho node-b\n")
    recorder = _exe(bin_dir / "recorder", RECORDER)
    if not uses_torchrun(plan, options):
        plan.argv = [str(recorder)] + plan.argv[1:]  # under torchrun the recorder stands in for python
    plan.write_files()
    text = render(plan, options, python=str(recorder))
    script = plan.run_dir / "job.sbatch"
    script.write_text(text)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", RECORD_DIR=str(record_dir),
               RECORD_EXIT=str(exit_code), SLURM_JOB_ID="4321", SLURM_JOB_NODELIST="node-[a-b]",
               SLURM_NTASKS=str(tasks), SLURM_NNODES=str(tasks), CUDA_VISIBLE_DEVICES="3")
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=30)
    tasks_seen = []
    for i in range(tasks):
        argv = (record_dir / f"task.{i}.argv").read_text().split("\0")[:-1]
        env_lines = dict(line.split("=", 1) for line in (record_dir / f"task.{i}.env").read_text().splitlines()
                         if "=" in line)
        tasks_seen.append((argv, env_lines))
    return proc, tasks_seen


def test_single_node_script_runs_the_plans_command_in_the_run_folder(ws, tmp_path):
    plan = build_plan(sft(), ws)
    proc, tasks = run_script(tmp_path, plan, SlurmOptions().checked(), tasks=1)
    assert proc.returncode == 0, proc.stderr
    argv, env = tasks[0]
    assert argv == ["train", str(plan.yaml_path)]  # the config path (spaces, quotes, $) arrives as one word
    assert env["LLAMABOARD_ENABLED"] == "1" and env["LLAMABOARD_WORKDIR"] == str(plan.output_dir)
    assert env["CUDA_VISIBLE_DEVICES"] == "3"  # Slurm's choice of GPUs is left alone
    assert json.loads((plan.run_dir / EXIT_FILE).read_text())["exit_code"] == 0
    assert "job 4321" in proc.stdout


def test_multi_node_script_starts_one_torchrun_agent_per_task(ws, tmp_path):
    plan = build_plan(sft(devices="0,1", nnodes=5), ws)
    options = SlurmOptions(nodes=2, gpus_per_node=4).checked()
    assert uses_torchrun(plan, options)
    proc, tasks = run_script(tmp_path, plan, options, tasks=2)
    assert proc.returncode == 0, proc.stderr
    for rank, (argv, env) in enumerate(tasks):
        assert argv[:2] == ["-m", "torch.distributed.run"]
        opts = dict(a[2:].split("=", 1) for a in argv if a.startswith("--"))
        assert opts == {"nnodes": "2", "node_rank": str(rank), "nproc_per_node": "4", "master_addr": "node-a",
                        "master_port": str(20000 + 4321 % 10000)}
        assert argv[-2:] == [llamafactory_launcher(), str(plan.yaml_path)]
        assert env["CUDA_VISIBLE_DEVICES"] == "3"  # the plan's devices=0,1 is not exported over Slurm's
        assert "NODE_RANK" not in env or env["NODE_RANK"] != "5"


def test_the_exit_code_is_recorded_and_returned(ws, tmp_path):
    plan = build_plan(sft(), ws)
    proc, _ = run_script(tmp_path, plan, SlurmOptions().checked(), tasks=1, exit_code=3)
    assert proc.returncode == 3
    assert json.loads((plan.run_dir / EXIT_FILE).read_text())["exit_code"] == 3


def test_script_header_has_the_options_and_the_extra_arguments_last(ws):
    plan = build_plan(sft(), ws)
    text = render(plan, SlurmOptions(nodes=2, gpus_per_node=8, partition="gpu", time="1-02:00:00", account="proj",
                                     cpus_per_task=16, sbatch_args=["--qos=high", "--comment=a b"]).checked())
    lines = [ln for ln in text.splitlines() if ln.startswith("#SBATCH")]
    assert "#SBATCH --nodes=2" in lines and "#SBATCH --gpus-per-node=8" in lines
    assert "#SBATCH --partition=gpu" in lines and "#SBATCH --time=1-02:00:00" in lines
    assert "#SBATCH --account=proj" in lines and "#SBATCH --cpus-per-task=16" in lines
    assert lines[-2:] == ["#SBATCH --qos=high", "#SBATCH --comment=a b"]
    # sbatch reads #SBATCH lines with shell-like quoting (checked against Slurm 22.05 with such a folder)
    options = [shlex.split(ln[len("#SBATCH "):])[0] for ln in lines]
    assert f"--output={plan.run_dir / 'stdout.log'}" in options and f"--chdir={plan.cwd}" in options
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0


def test_export_never_uses_torchrun(ws):
    plan = build_plan({"model_name_or_path": "models/tiny", "export_dir": "out", "template": "default"}, ws)
    assert not uses_torchrun(plan, SlurmOptions(gpus_per_node=2).checked())


@pytest.mark.parametrize("bad, message", [
    ({"nodes": 0}, "nodes must be at least 1"),
    ({"nodes": "two"}, "whole number"),
    ({"gpus_per_node": -1}, "at least 0"),
    ({"time": "soon"}, "not a Slurm time limit"),
    ({"partition": "gpu; rm -rf /"}, "not a Slurm name"),
    ({"sbatch_args": ["qos=high"]}, "must be one option"),
    ({"sbatch_args": ["--comment=a\n#SBATCH --x"]}, "must be one option"),
    ({"sbatch_args": '--comment="unclosed'}, "cannot be split into arguments"),
])
def test_bad_options_are_refused_with_the_field_named(bad, message):
    with pytest.raises(MedtuiError, match=message):
        SlurmOptions.from_mapping(bad)


def test_good_time_formats():
    for value in ("30", "30:00", "12:00:00", "2-00", "2-12:00", "2-12:00:00", "UNLIMITED"):
        assert SlurmOptions.from_mapping({"time": value}).time == value


# -- Slurm's output ------------------------------------------------------------------------------------

SCONTROL_LINE = ("JobId=57 JobName=medtui-x UserId=root(0) JobState=PENDING Reason=Resources Dependency=(null) "
                 "ExitCode=0:0 RunTime=00:00:00 StartTime=2031-01-02T03:04:05 EndTime=Unknown Partition=gpu "
                 "NodeList=(null) NumNodes=2 NumCPUs=4 NumTasks=2 CPUs/Task=1 ReqB:S:C:T=0:0:*:* "
                 "Command=/home/a b/job.sbatch WorkDir=/home/a b StdOut=/home/a b/stdout.log")


def test_scontrol_fields_keep_values_with_spaces():
    fields = commands.parse_fields(SCONTROL_LINE)
    assert fields["Command"] == "/home/a b/job.sbatch" and fields["WorkDir"] == "/home/a b"
    info = commands.job_from_scontrol(SCONTROL_LINE)
    assert (info.job_id, info.state, info.reason, info.num_nodes, info.num_tasks) == ("57", "PENDING", "Resources", 2, 2)
    assert info.nodes == "" and info.partition == "gpu"
    assert info.start_time == time.mktime((2031, 1, 2, 3, 4, 5, 0, 0, -1))
    assert info.end_time is None


def test_exit_codes_and_signals():
    info = commands.job_from_scontrol("JobId=3 JobState=CANCELLED Reason=None ExitCode=0:15 NodeList=n[1-2]")
    assert (info.exit_code, info.signal, info.nodes) == (0, 15, "n[1-2]")


@pytest.mark.parametrize("gres, gpus", [("(null)", 0), ("gpu:8", 8), ("gpu:a100:4(S:0-1)", 4), ("gpu:a100:2,shard:8", 2),
                                        ("gpu:h100:4,gpu:a100:2", 6)])
def test_gpu_counts_from_gres(gres, gpus):
    assert commands._gpus(gres) == gpus


@pytest.mark.parametrize("state, reason, start, stop, expect", [
    ("PENDING", "Resources", None, False, ("pending", "Slurm: PENDING (Resources)")),
    ("PENDING", "BeginTime", 4102444800.0, False, ("pending", "Slurm: PENDING (BeginTime), expected start")),
    ("RUNNING", "None", None, False, ("running", "")),
    ("COMPLETING", "None", None, False, ("running", "")),
    ("COMPLETED", "None", None, False, ("succeeded", "")),
    ("COMPLETED", "None", None, True, ("stopped", "")),
    ("CANCELLED", "None", None, False, ("stopped", "cancelled in Slurm")),
    ("TIMEOUT", "TimeLimit", None, False, ("failed", "Slurm: TIMEOUT")),
    ("NODE_FAIL", "None", None, False, ("failed", "Slurm: NODE_FAIL")),
    ("OUT_OF_MEMORY", "None", None, False, ("failed", "Slurm: OUT_OF_MEMORY")),
])
def test_slurm_states_map_to_medtui_states(state, reason, start, stop, expect):
    status, why = slurm_status.map_state(JobInfo("1", state, reason, start_time=start), stop, now=1.0e9)
    assert status == expect[0]
    assert why.startswith(expect[1])


def test_failed_job_names_exit_code_and_signal():
    _, why = slurm_status.map_state(JobInfo("1", "FAILED", "NonZeroExitCode", exit_code=1, signal=9), False)
    assert why == "Slurm: FAILED (exit code 1, signal 9)"


# -- status from the run's own files once Slurm forgets the job ---------------------------------------


def slurm_record(run_dir: Path, **over) -> dict:
    run_dir.mkdir(parents=True)
    record = {"id": run_dir.name, "stage": "sft", "status": "pending", "backend": "slurm", "job_id": "99",
              "output_dir": str(run_dir / "out"), "started": time.time(), "ended": None, "exit_code": None}
    record.update(over)
    write_record(run_dir, record)
    return record


@pytest.fixture
def forgotten(monkeypatch):
    """Slurm no longer knows the job (scontrol: invalid job id; no accounting)."""
    monkeypatch.setattr(slurm_status, "job", lambda job_id, fresh=False: None)


@pytest.mark.parametrize("code, stopped, expect", [(0, False, "succeeded"), (1, False, "failed"), (0, True, "stopped")])
def test_a_forgotten_job_is_read_from_its_exit_record(tmp_path, forgotten, code, stopped, expect):
    run_dir = tmp_path / "r"
    record = slurm_record(run_dir, slurm_state="RUNNING")
    (run_dir / EXIT_FILE).write_text(json.dumps({"exit_code": code, "ended": 1234, "job_id": "99"}))
    (run_dir / "stderr.log").write_text("loading\nValueError: bad target\n")
    if stopped:
        (run_dir / STOP_MARKER).write_text("1")
    found = slurm_status.status(run_dir, record)
    assert found.status == expect
    saved = read_record(run_dir)  # finalised once, for every later reader
    assert (saved["status"], saved["exit_code"], saved["ended"]) == (expect, code, 1234)
    if expect == "failed":
        assert saved["error"].startswith("ValueError: bad target")


def test_a_vanished_job_without_exit_record_reads_failed(tmp_path, forgotten):
    run_dir = tmp_path / "r"
    record = slurm_record(run_dir, slurm_state="RUNNING")
    found = slurm_status.status(run_dir, record)
    assert found.status == "failed"
    assert "no longer knows job 99" in read_record(run_dir)["error"] and "RUNNING" in found.reason


def test_an_unreachable_controller_keeps_the_last_known_state(tmp_path, monkeypatch):
    def down(job_id, fresh=False):
        raise commands.SlurmUnavailable("scontrol did not answer within 20s")

    monkeypatch.setattr(slurm_status, "job", down)
    run_dir = tmp_path / "r"
    record = slurm_record(run_dir, slurm_state="RUNNING", status="pending")
    found = slurm_status.status(run_dir, record)
    assert found.status == "running" and "not answering" in found.reason
    assert read_record(run_dir)["status"] == "pending"  # nothing final was written


def test_running_job_records_nodes_and_start(tmp_path, monkeypatch):
    info = JobInfo("99", "RUNNING", "None", start_time=1000.0, nodes="n[1-2]")
    monkeypatch.setattr(slurm_status, "job", lambda job_id, fresh=False: info)
    run_dir = tmp_path / "r"
    found = slurm_status.status(run_dir, slurm_record(run_dir))
    assert found.status == "running"
    saved = read_record(run_dir)
    assert (saved["nodes"], saved["job_started"], saved["slurm_state"]) == ("n[1-2]", 1000.0, "RUNNING")


# -- the cluster profile -------------------------------------------------------------------------------


def test_profile_user_then_workspace_then_run(ws):
    user = profile.user_path()
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text(json.dumps({"lang": "zh", "theme": "x", "mine": [1], "slurm": {"partition": "gpu", "nodes": 2,
                                                                                  "time": "1:00:00"}}))
    profile.save_profile({"nodes": 4, "account": "lab"}, ws=ws)
    opts = profile.options_for(ws, {"time": "2:00:00", "partition": None})
    assert (opts.partition, opts.nodes, opts.account, opts.time) == ("gpu", 4, "lab", "2:00:00")
    profile.save_profile({"gpus_per_node": "8", "time": None})
    data = json.loads(user.read_text())
    assert data["mine"] == [1] and data["lang"] == "zh"  # the rest of the settings file is kept
    assert data["slurm"] == {"partition": "gpu", "nodes": 2, "gpus_per_node": 8}
    assert profile.profile_sources(ws)["nodes"] == str(profile.workspace_path(ws))


def test_profile_refuses_bad_values_and_keeps_the_file(ws):
    path = profile.workspace_path(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"slurm": {"nodes": 2}}')
    with pytest.raises(MedtuiError, match="nodes must be a whole number"):
        profile.save_profile({"nodes": "many"}, ws=ws)
    with pytest.raises(MedtuiError, match="unknown Slurm profile field"):
        profile.save_profile({"queue": "x"}, ws=ws)
    assert json.loads(path.read_text()) == {"slurm": {"nodes": 2}}
    path.write_text("{broken")
    with pytest.raises(MedtuiError, match="not a valid JSON file"):
        profile.load_profile(ws)


def test_run_values_reach_the_plan_and_the_preview(ws):
    profile.save_profile({"partition": "debug", "gpus_per_node": 2}, ws=ws)
    plan = build_plan(sft(launch_on="slurm", slurm_nodes=3, slurm_sbatch_args="--qos=high --mem=8G"), ws)
    assert backend_name(plan) == "slurm"
    assert "launch_on" not in plan.yaml_config and "slurm_nodes" not in plan.yaml_config
    opts = slurm_options(plan, ws)
    assert (opts.partition, opts.nodes, opts.gpus_per_node, opts.sbatch_args) == ("debug", 3, 2,
                                                                                   ["--qos=high", "--mem=8G"])
    text = preview(plan, ws)
    assert text.startswith("# sbatch ") and "#SBATCH --nodes=3" in text and "stage: sft" in text
    assert backend_name(build_plan(sft(), ws)) == "local"


# -- pre-flight -----------------------------------------------------------------------------------------

PARTS = {"debug": Partition("debug", default=True, nodes=1, gpus_per_node=0, cpus_per_node=2),
         "gpu": Partition("gpu", nodes=4, gpus_per_node=8, cpus_per_node=64)}


def problems_of(plan, **opts):
    return {(p.field, p.level): p.message for p in slurm_checks.check(plan, SlurmOptions(**opts).checked(),
                                                                     partitions=PARTS)}


def test_preflight_partition_nodes_and_gpus(ws):
    plan = build_plan(sft(), ws)
    assert "does not exist (sinfo lists: debug, gpu)" in problems_of(plan, partition="nope")[("slurm_partition", "error")]
    assert "partition 'gpu' has 4" in problems_of(plan, partition="gpu", nodes=5)[("slurm_nodes", "error")]
    assert "has no GPUs" in problems_of(plan, gpus_per_node=1)[("slurm_gpus_per_node", "error")]
    assert "at most 8 per node" in problems_of(plan, partition="gpu", gpus_per_node=16)[("slurm_gpus_per_node", "error")]
    ok = problems_of(plan, partition="gpu", nodes=4, gpus_per_node=8)
    assert not [k for k in ok if k[1] == "error"]


def test_preflight_plan_devices_must_match(ws):
    plan = build_plan(sft(nproc_per_node=2, nnodes=3, devices="0,1,2", use_ray=True, master_port=1234), ws)
    found = problems_of(plan, partition="gpu", nodes=2, gpus_per_node=4)
    assert "nproc_per_node is 2" in found[("nproc_per_node", "error")]
    assert "nnodes is 3" in found[("nnodes", "error")]
    assert "devices lists 3 GPU(s)" in found[("devices", "error")]
    assert ("use_ray", "error") in found and ("master_port", "warn") in found


def test_preflight_warns_about_node_local_folders(ws, tmp_path):
    plan = build_plan(sft(output_dir="/dev/shm/medtui-test-out"), ws)
    found = problems_of(plan)
    assert "/dev/shm" in found[("slurm", "warn")]
    assert slurm_checks.shared_folder_problem("run folder", Path("/tmp/x/y")).level == "warn"


def test_preflight_without_sbatch(ws, monkeypatch):
    monkeypatch.setenv("PATH", str(ws.root))
    plan = build_plan(sft(), ws)
    problems = slurm_checks.check(plan, SlurmOptions().checked())
    assert [(p.field, p.level) for p in problems] == [("slurm", "error")]
    assert "sbatch is not on PATH" in problems[0].message


@pytest.mark.parametrize("mode, expect", [("kill", "killed"), ("graceful", "stopped")])
def test_a_stopped_job_ends_in_the_states_of_a_local_run(tmp_path, forgotten, mode, expect):
    """``medtui stop`` of a Slurm job ends as a local run would (runs.states): killed, or stopped with what
    the final save left."""
    from medtui.core.runs.states import request_stop

    run_dir = tmp_path / "r"
    record = slurm_record(run_dir, slurm_state="RUNNING", kind="train")
    out = run_dir / "out"
    (out / "checkpoint-4").mkdir(parents=True)
    (run_dir / EXIT_FILE).write_text(json.dumps({"exit_code": 0, "ended": 1234, "job_id": "99"}))
    request_stop(run_dir, mode)
    assert slurm_status.status(run_dir, record).status == expect
    saved = read_record(run_dir)
    assert saved["status"] == expect
    if expect == "killed":
        assert "nothing saved since the last checkpoint" in saved["error"]
    else:
        assert saved["saved"] == "saved checkpoint-4"


def _slow_writes(monkeypatch) -> None:
    """Widen the window between a reader's look at run.json and its write."""
    real_write = slurm_status.write_record

    def slow_write(run_dir, record):
        time.sleep(0.05)
        return real_write(run_dir, record)

    monkeypatch.setattr(slurm_status, "write_record", slow_write)


def test_readers_that_see_the_end_at_once_finalise_and_notify_once(tmp_path, forgotten, monkeypatch):
    """The TUI's poll and `medtui runs` may both see a job end: one of them writes the end and notifies."""
    run_dir = tmp_path / "r"
    record = slurm_record(run_dir, slurm_state="RUNNING")
    (run_dir / EXIT_FILE).write_text(json.dumps({"exit_code": 0, "ended": 1234, "job_id": "99"}))
    sent: list[str] = []
    _slow_writes(monkeypatch)
    monkeypatch.setattr(slurm_status.notify, "run_ended", lambda rec: sent.append(rec["status"]) or {"listeners": 0})
    readers = [threading.Thread(target=slurm_status.status, args=(run_dir, dict(record))) for _ in range(6)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(30)
    assert sent == ["succeeded"]
    assert read_record(run_dir)["status"] == "succeeded"


def test_a_reader_that_saw_the_job_running_never_undoes_its_end(tmp_path, monkeypatch):
    """One reader notes the job's node while another writes its end: the end stays, and is notified once."""
    run_dir = tmp_path / "r"
    record = slurm_record(run_dir, slurm_state="PENDING")
    sent: list[str] = []
    _slow_writes(monkeypatch)
    monkeypatch.setattr(slurm_status.notify, "run_ended", lambda rec: sent.append(rec["status"]) or {"listeners": 0})
    running = JobInfo("99", "RUNNING", nodes="gpu1", start_time=1000.0)
    ended = JobInfo("99", "COMPLETED", exit_code=0, start_time=1000.0, end_time=2000.0, nodes="gpu1")
    monkeypatch.setattr(slurm_status, "job", lambda job_id, fresh=False: running)
    early = threading.Thread(target=slurm_status.status, args=(run_dir, dict(record)))
    early.start()  # it saw RUNNING and is writing the node
    time.sleep(0.01)
    monkeypatch.setattr(slurm_status, "job", lambda job_id, fresh=False: ended)
    late = threading.Thread(target=slurm_status.status, args=(run_dir, dict(record)))
    late.start()
    early.join(30)
    late.join(30)
    final = read_record(run_dir)
    assert final["status"] == "succeeded" and final["nodes"] == "gpu1"
    assert slurm_status.status(run_dir, read_record(run_dir)).status == "succeeded"
    assert sent == ["succeeded"]


@pytest.mark.parametrize("trouble", ["no-locks", "held"])
def test_a_record_lock_that_cannot_be_had_never_blocks_a_reader(tmp_path, forgotten, monkeypatch, trouble):
    """Lustre without flock (ENOLCK), or a holder that was stopped with ctrl+z: the reader goes on."""
    import errno
    import fcntl

    run_dir = tmp_path / "r"
    record = slurm_record(run_dir, slurm_state="RUNNING")
    (run_dir / EXIT_FILE).write_text(json.dumps({"exit_code": 0, "ended": 1234, "job_id": "99"}))
    monkeypatch.setattr(slurm_status.notify, "run_ended", lambda rec: {"listeners": 0})
    holder = None
    if trouble == "no-locks":
        def no_locks(fd, op):
            raise OSError(errno.ENOLCK, "No locks available")
        monkeypatch.setattr(fcntl, "flock", no_locks)
    else:
        holder = os.open(run_dir / slurm_status.RECORD_LOCK, os.O_CREAT | os.O_RDWR)
        fcntl.flock(holder, fcntl.LOCK_EX)
        monkeypatch.setattr(slurm_status, "LOCK_TIMEOUT", 0.3)
    try:
        start = time.monotonic()
        assert slurm_status.status(run_dir, record).status == "succeeded"
        assert time.monotonic() - start < 5
    finally:
        if holder is not None:
            os.close(holder)
    assert read_record(run_dir)["status"] == "succeeded"
