"""The whole settings tree: the core sections and one section per domain, from its manifest.

`DEVFLOW_<SECTION>__<FIELD>` sets a field; `devflow config show` lists every one. Code inside a
domain reads its section with `settings.section(<ItsSettings>)`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, create_model

from devflow.core import config
from devflow.core.config import Settings
from devflow.domains import DOMAINS


def _tree() -> type[Settings]:
    sections: dict[str, Any] = {
        domain.name: (
            domain.settings,
            Field(
                default_factory=domain.settings,
                description=(domain.settings.__doc__ or domain.name).strip().splitlines()[0],
            ),
        )
        for domain in DOMAINS
        if domain.settings is not None
    }
    tree: type[Settings] = create_model("DevflowSettings", __base__=Settings, **sections)
    return tree


DevflowSettings = _tree()
"""The settings class of a whole DevFlow process."""


def load_settings(**overrides: Any) -> Settings:
    """Build and validate the whole tree from the environment, `.env` and `overrides`.

    Raises:
        Invalid: naming each bad key (as its environment variable) and the reason.
    """
    return config.load_settings(DevflowSettings, **overrides)


__all__ = ["DevflowSettings", "load_settings"]
