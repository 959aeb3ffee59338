"""``python -m veye``: the same as the ``veye`` command."""

from veye.cli import main

main()
