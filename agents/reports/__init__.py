"""Reports over many runs: find the runs under a folder, aggregate replicates, tabulate, plot.

``scripts/report.py`` is the command; ``runs`` reads run folders, ``replicates`` groups runs
that differ only in their training seed and bootstraps confidence intervals, ``tables``
writes the Markdown, ``plots`` the PNG figures.
"""
