"""stable-baselines3 on the randgym envs: vector-env adapter, transformer features, evaluation."""
