"""Slurm: the sbatch script, the cluster commands, the cluster profile and the Slurm launch backend.

Plain Python; Slurm is reached only through its commands (``sbatch``, ``scontrol``, ``squeue``,
``sacct``, ``scancel``, ``sinfo``) run with argv lists.
"""
