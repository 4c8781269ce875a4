"""The models: the seeded transformer and its population (flat parameter vector) helpers."""
