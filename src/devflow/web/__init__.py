"""The HTTP surface: `create_app(settings)` mounts every domain's router."""

from devflow.web.app import create_app

__all__ = ["create_app"]
