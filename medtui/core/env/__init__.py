"""The machine: the environment doctor, GPUs (NVML), system gauges and the run environment settings."""
