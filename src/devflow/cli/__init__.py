"""The `devflow` command line."""
