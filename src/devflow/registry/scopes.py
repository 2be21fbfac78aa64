"""The registry's token scopes: downloading and publishing packages.

Listed in the registry's manifest, so a token can be given them (`devflow token create --scope
registry:publish`); a registry client's credentials usually carry only these.
"""

from devflow.core.auth import ScopeDef

REGISTRY_READ = ScopeDef(
    "registry:read",
    "download packages from registries",
    implied_by=("registry:publish",),
    default=True,
)
REGISTRY_PUBLISH = ScopeDef("registry:publish", "publish packages to registries", default=True)
SCOPES = (REGISTRY_READ, REGISTRY_PUBLISH)
