"""Classical (hand-written) policies, deterministic and randomized, for comparison."""
