"""Training by evolution strategies: ES algorithms, the batched rollout engine, evaluators."""
