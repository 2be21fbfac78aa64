"""Imports from a URL and pull mirrors (`service`), through the outbound guard (`gitops`)."""
