"""What every command-line surface shares: the API client, the common options and printing.

Below the domains, so that each domain's `cli.py` and the root `devflow` command use the same
pieces without a package cycle.
"""

from devflow.core.cli.client import ApiClient, error_class
from devflow.core.cli.options import JsonOpt, TimeoutOpt, TokenOpt, UrlOpt, client
from devflow.core.cli.output import console, emit_json, err_console, table
from devflow.core.cli.progress import FINAL, follow_job, pace

__all__ = [
    "FINAL",
    "ApiClient",
    "JsonOpt",
    "TimeoutOpt",
    "TokenOpt",
    "UrlOpt",
    "client",
    "console",
    "emit_json",
    "err_console",
    "error_class",
    "follow_job",
    "pace",
    "table",
]
