"""1Password resolution of `op://vault/item[/section]/field` references, through a Connect
server (its REST API, spoken with httpx) or the `op` CLI, with a TTL cache, single flight and an
opt-in sealed last-known-good cache for outages. Made once per process: `OnePassword`.
"""

from devflow.secrets.onepassword.connect import ConnectClient
from devflow.secrets.onepassword.errors import (
    NotConfigured,
    OnePasswordAuthError,
    OnePasswordError,
    ReferenceNotFound,
    Unreachable,
)
from devflow.secrets.onepassword.opcli import OpCli, find_op
from devflow.secrets.onepassword.reference import (
    MAX_REFERENCE_LENGTH,
    Reference,
    parse_reference,
)
from devflow.secrets.onepassword.resolver import (
    LastKnownGood,
    OnePassword,
    Resolved1P,
    Sealer,
    default_cache_path,
)
from devflow.secrets.onepassword.settings import OnePasswordSettings

__all__ = [
    "MAX_REFERENCE_LENGTH",
    "ConnectClient",
    "LastKnownGood",
    "NotConfigured",
    "OnePassword",
    "OnePasswordAuthError",
    "OnePasswordError",
    "OnePasswordSettings",
    "OpCli",
    "Reference",
    "ReferenceNotFound",
    "Resolved1P",
    "Sealer",
    "Unreachable",
    "default_cache_path",
    "find_op",
    "parse_reference",
]
