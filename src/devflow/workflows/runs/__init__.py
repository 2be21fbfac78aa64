"""Workflow runs: a definition version at work towards a goal, its phases, approvals and steps."""
