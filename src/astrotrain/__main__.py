"""`python -m astrotrain` = the `astrotrain` command."""

from .cli import entry

entry()
