"""Webhooks of git hosting, GitHub-compatible: hooks per project or repository, deliveries made
from DevFlow's events (`payloads.TRANSLATORS` maps event types to GitHub events), sent by jobs
through the guarded outbound client, retried with backoff, logged, and redelivered on demand.

The package is `webhooks`, not `hooks`: git's own hooks (`post-receive`) live in `storage`.
Kept free of imports so that `devflow.repos.settings` can name `WebhookSettings` early.
"""
