"""`python -m devflow` is the `devflow` command."""

from devflow.cli.main import main

main()
