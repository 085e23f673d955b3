"""The lifecycle: stage wiring (PT -> SFT -> RM/PPO/DPO/KTO -> export), form prefill, pipelines and the queue."""
