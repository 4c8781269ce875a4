"""Associative recall."""
