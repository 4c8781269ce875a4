"""The run harness shared by every script: CLI, logging, checkpoints, run folders."""
