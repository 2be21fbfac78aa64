"""Implementations of `devflow.knowledge.ports`."""
