"""Model prices: the table shipped in `prices.json`, overridden by settings."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources

from devflow.llm.settings import LLMPrice

_PER_TOKEN = Decimal(1_000_000)


def shipped_prices() -> dict[str, LLMPrice]:
    """Return the price table shipped with DevFlow."""
    raw = json.loads((resources.files("devflow.llm") / "prices.json").read_text("utf-8"))
    return {k: LLMPrice.model_validate(v) for k, v in raw.items() if not k.startswith("_")}


class PriceTable:
    """Look up a model's price by `provider/model`, then by `model`."""

    def __init__(self, overrides: dict[str, LLMPrice]) -> None:
        self._prices = {**shipped_prices(), **overrides}

    def price(self, provider: str, model: str) -> LLMPrice | None:
        """Return the price of `model` at `provider`, or None when it is not in the table."""
        return self._prices.get(f"{provider}/{model}") or self._prices.get(model)

    def cost(self, provider: str, model: str, tokens_in: int, tokens_out: int) -> Decimal | None:
        """Return tokens x price in USD, or None for an unpriced model."""
        price = self.price(provider, model)
        if price is None:
            return None
        return (
            Decimal(str(price.input)) * tokens_in + Decimal(str(price.output)) * tokens_out
        ) / _PER_TOKEN
