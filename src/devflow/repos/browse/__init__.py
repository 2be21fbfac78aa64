"""Browsing a repository: branches, tags, trees, files, raw downloads, commits with their
diffs, comparisons, blame and the README, read with `git` plumbing (`reader`), served under
the repositories' REST prefix (`api`) and by `devflow repo browse|log|show-file` (`cli`).

Imports nothing at package level: `repos.settings` takes `BrowseSettings` from here.
"""
