"""Grid-world exploration."""
