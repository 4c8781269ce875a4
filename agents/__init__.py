"""Policies and training for learning randomized algorithms: torch lives here."""
