"""The run report: matplotlib plots (PNG) and the self-contained report.html that shows them."""
