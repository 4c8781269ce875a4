"""Speed and reproduction benchmarks; run each as `python -m benchmarks.<name>`."""
