"""Gradient training with the q-norm objective (the recall and coloring pipeline)."""
