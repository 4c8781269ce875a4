"""Distributed 3-coloring of cycles."""
