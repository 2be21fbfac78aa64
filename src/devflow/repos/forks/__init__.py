"""Forks: a repository copied from another, remembering its source (`service`)."""
