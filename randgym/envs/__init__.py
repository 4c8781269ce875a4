"""The randgym environments: one sub-package per task."""
