"""Workflow definitions: the YAML shape (`spec`), validation, versions, built-ins."""
