"""The run report: the self-contained report.html of a run (and its science sections)."""
