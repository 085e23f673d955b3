"""Stages: the argument specification, validation, stage fit, the command builder, pre-flight and launch."""
