"""Pre-flight checks of a run that goes to Slurm (added to the stage's own checks).

Errors: no ``sbatch`` on PATH, an unknown partition, more nodes or GPUs than the partition has,
a plan whose device settings disagree with the Slurm options, Ray, a multi-node export.
Warnings: a run or output folder on a filesystem the other nodes probably cannot see (``/tmp``,
``/dev/shm``, a local disk), ``devices`` (Slurm picks each node's GPUs).
"""

from __future__ import annotations

from pathlib import Path

from medtui.core.slurm import commands
from medtui.core.slurm.script import SlurmOptions
from medtui.core.stages.validate import Problem

NODE_LOCAL_PREFIXES = ("/tmp", "/var/tmp", "/dev/shm", "/run", "/scratch/local", "/local")
SHARED_FS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "cephfs", "ceph", "glusterfs",
             "panfs", "wekafs", "pvfs2", "orangefs", "afs", "virtiofs")
LOCAL_FS = ("ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "overlay", "f2fs", "vfat", "ramfs", "zfs")


def _existing(path: Path) -> Path:
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def mount_of(path: Path) -> tuple[str, str]:
    """The mount point and filesystem type that hold ``path`` (the longest matching mount)."""
    import psutil

    target = str(_existing(path).resolve())
    best = ("/", "")
    for part in psutil.disk_partitions(all=True):
        mp = part.mountpoint
        inside = target == mp or target.startswith(mp.rstrip("/") + "/")
        if inside and len(mp) >= len(best[0]):
            best = (mp, part.fstype)
    return best


def shared_folder_problem(label: str, path: Path) -> Problem | None:
    """A warning when ``path`` is probably not visible from the other nodes."""
    resolved = str(_existing(path).resolve())
    for prefix in NODE_LOCAL_PREFIXES:
        if resolved == prefix or resolved.startswith(prefix + "/"):
            return Problem("slurm", f"the {label} {path} is under {prefix}, which is local to each node: other nodes "
                                    "cannot read or write it (fine on a single-node cluster)", "warn")
    mount, fstype = mount_of(path)
    base = fstype.split(".")[-1] if fstype.startswith("fuse.") else fstype
    if base in SHARED_FS:
        return None
    if base in LOCAL_FS:
        return Problem("slurm", f"the {label} {path} is on a local {fstype} filesystem (mounted at {mount}); other "
                                "nodes cannot see it unless it is shared (fine on a single-node cluster)", "warn")
    return None


def check(plan, options: SlurmOptions, *, partitions=None) -> list[Problem]:
    """Problems with sending ``plan`` to Slurm with ``options``. ``partitions`` is for tests."""
    problems: list[Problem] = []
    missing = commands.missing_command("sbatch")
    if missing:
        return [Problem("slurm", missing)]
    try:
        parts = partitions if partitions is not None else commands.partitions()
    except commands.SlurmError as exc:
        return [Problem("slurm", f"cannot ask Slurm for its partitions: {exc}")]
    part = None
    if options.partition:
        names = options.partition.split(",")
        unknown = [n for n in names if n not in parts]
        if unknown:
            known = ", ".join(sorted(parts)) or "none"
            problems.append(Problem("slurm_partition", f"partition {unknown[0]!r} does not exist (sinfo lists: {known})"))
        else:
            part = parts[names[0]]
    else:
        part = next((p for p in parts.values() if p.default), None)
        if part is None:
            problems.append(Problem("slurm_partition", "the cluster has no default partition; choose one"))
    if part is not None:
        if not part.available:
            problems.append(Problem("slurm_partition", f"partition {part.name!r} is not up; the job would wait", "warn"))
        if part.nodes and options.nodes > part.nodes and not _overrides(options, "--nodes"):
            problems.append(Problem("slurm_nodes", f"{options.nodes} nodes asked for, partition {part.name!r} has "
                                                   f"{part.nodes}"))
        if options.gpus_per_node > part.gpus_per_node:
            have = f"at most {part.gpus_per_node} per node" if part.gpus_per_node else "no GPUs (no gpu gres in sinfo)"
            problems.append(Problem("slurm_gpus_per_node", f"{options.gpus_per_node} GPU(s) per node asked for, "
                                                           f"partition {part.name!r} has {have}"))
    problems += _check_plan_devices(plan, options)
    for label, path in (("run folder", plan.run_dir), ("output folder", plan.output_dir)):
        problem = shared_folder_problem(label, path)
        if problem:
            problems.append(problem)
    return problems


def _overrides(options: SlurmOptions, flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") or (flag == "--nodes" and a.startswith("-N"))
               for a in options.sbatch_args)


def _check_plan_devices(plan, options: SlurmOptions) -> list[Problem]:
    """The plan's device and distributed settings against what the job asks Slurm for."""
    env = plan.env
    problems: list[Problem] = []
    per_node = max(options.gpus_per_node, 1)
    if plan.stage == "export" and (options.nodes > 1 or options.gpus_per_node > 1):
        problems.append(Problem("slurm_nodes", "export runs as one process: use 1 node and at most 1 GPU"))
    if str(env.get("USE_RAY", "")).lower() in ("1", "true"):
        problems.append(Problem("use_ray", "Ray is not started by medtui's Slurm jobs; turn use_ray off"))
    if env.get("NPROC_PER_NODE") and int(env["NPROC_PER_NODE"]) != per_node:
        problems.append(Problem("nproc_per_node", f"nproc_per_node is {env['NPROC_PER_NODE']} but the job has "
                                                  f"{per_node} {'GPU' if options.gpus_per_node else 'process'}(s) "
                                                  "per node; leave it empty on Slurm"))
    if env.get("NNODES") and int(env["NNODES"]) != options.nodes:
        problems.append(Problem("nnodes", f"nnodes is {env['NNODES']} but the job asks for {options.nodes} node(s); "
                                          "leave it empty on Slurm"))
    for key, name in (("NODE_RANK", "node_rank"), ("MASTER_ADDR", "master_addr"), ("MASTER_PORT", "master_port")):
        if env.get(key):
            problems.append(Problem(name, f"{name} is set by the Slurm job itself; the value here is ignored", "warn"))
    devices = env.get("CUDA_VISIBLE_DEVICES")
    if devices:
        count = len([d for d in devices.split(",") if d.strip()])
        if options.gpus_per_node and count != options.gpus_per_node:
            problems.append(Problem("devices", f"devices lists {count} GPU(s) but the job asks for "
                                               f"{options.gpus_per_node} per node; Slurm chooses the GPUs, "
                                               "leave devices empty"))
        else:
            problems.append(Problem("devices", "ignored on Slurm: each node uses the GPUs Slurm gives the job", "warn"))
    if plan.deepspeed is not None and not options.gpus_per_node:
        problems.append(Problem("deepspeed_stage", "DeepSpeed without GPUs: set gpus_per_node", "warn"))
    return problems
