"""The arithmetic and the words behind budgets, the provider address policy, the cache setting."""

from datetime import date
from decimal import Decimal

import pytest

from devflow.core.errors import Invalid, QuotaExceeded
from devflow.core.outbound import address_allowed
from devflow.llm import BudgetExceeded, LLMSettings, Tags
from devflow.llm._providers import PROVIDER_NETWORKS
from devflow.llm._request import ChatOptions, chat_request
from devflow.llm.budgets import Ask, make_budget, next_period, refusal
from devflow.llm.tokens import dense_estimate, estimate_tokens
from devflow.settings import load_settings

MICRO = Decimal("0.000001")


def ask(wanted: int = 1024, least: int = 64) -> Ask:
    # Two models: 1 and 3 prompt micro-dollars, 2 and 1 micro-dollars an output token.
    return Ask((MICRO, 3 * MICRO), (2 * MICRO, MICRO), wanted, least)


class TestAsk:
    def test_the_cost_is_that_of_the_dearest_model_for_that_many_tokens(self):
        assert ask().cost(1024) == Decimal("0.002049")
        assert ask().cost(1) == Decimal("0.000004")  # the second model is dearer for one token

    def test_the_cost_is_rounded_up_to_the_ledgers_nine_decimals(self):
        assert Ask((Decimal("0.0000000001"),), (Decimal(0),), 0, 0).cost(0) == Decimal(
            "0.000000001"
        )

    def test_fit_gives_the_most_tokens_every_model_stays_within(self):
        assert ask().fit(Decimal("0.000951")) == 475
        assert ask().fit(Decimal(1)) == 1024, "never more than asked"
        assert ask().fit(Decimal("0.0001")) is None, "49 tokens: under the 64 minimum"
        assert ask().fit(Decimal("0.000002")) is None, "not even the prompt"
        assert ask(100, 100).fit(Decimal("0.000201")) == 100
        assert ask(100, 100).fit(Decimal("0.0002")) is None, "a fixed max_tokens is not shortened"


class TestRefusalsSayWhatIsTrue:
    budget = make_budget("web", None, Decimal("0.08"))
    period = date(2026, 12, 1)

    def refuse(self, spent: str, reserved: str, *, stopped: bool = False) -> BudgetExceeded:
        return refusal(
            self.budget,
            spent=Decimal(spent),
            reserved=Decimal(reserved),
            stopped=stopped,
            needed=Decimal("0.004608"),
            period=self.period,
        )

    def test_nothing_spent_everything_reserved_by_calls_in_flight(self):
        error = self.refuse("0", "0.08")
        assert "is spent" not in error.message
        assert "$0.000000 spent and $0.080000 reserved by calls in flight" in error.message
        assert "frees up as they finish" in error.message
        assert error.details["state"] == "held_in_flight"

    def test_in_flight_calls_that_could_not_free_enough_are_not_worth_waiting_for(self):
        error = self.refuse("0.078", "0.002")
        assert "has $0.000000 left ($0.078000 spent, $0.002000 reserved by calls in flight)" in (
            error.message
        )
        assert error.details["state"] == "too_little_left"

    def test_spent_names_the_day_it_renews(self):
        error = self.refuse("0.08", "0")
        assert "is spent ($0.080000); it renews on 2027-01-01 (UTC)" in error.message
        assert error.details["renews"] == "2027-01-01"

    def test_too_little_left_for_this_call(self):
        error = self.refuse("0.079", "0")
        assert "has $0.001000 left ($0.079000 spent)" in error.message
        assert error.details["state"] == "too_little_left"

    def test_a_stopped_budget_says_how_to_reopen_it(self):
        error = self.refuse("0.01", "0", stopped=True)
        assert "is stopped: a call cost more than it had reserved" in error.message
        assert "devflow llm budget set" in error.message

    def test_a_refusal_is_a_quota_error(self):
        assert isinstance(self.refuse("0.08", "0"), QuotaExceeded)

    def test_december_renews_in_january(self):
        assert next_period(date(2026, 12, 1)) == date(2027, 1, 1)
        assert next_period(date(2026, 3, 1)) == date(2026, 4, 1)


class TestRequests:
    def test_a_plain_call_without_max_tokens_may_be_shortened_json_and_tools_may_not(self):
        settings = LLMSettings()
        hi = [{"role": "user", "content": "hi"}]

        def build(**options):
            return chat_request(
                settings, "chat", hi, tags=Tags("t"), options=ChatOptions(**options), started=0
            )

        assert build().shortenable
        assert not build(max_tokens=10).shortenable
        assert not build(json_mode=True).shortenable
        assert not build(tools=[{"type": "function", "function": {"name": "f"}}]).shortenable
        assert build().sent_params(300) == {"max_tokens": 300}
        reasoning = build(params={"max_completion_tokens": 900})
        assert reasoning.output_tokens == 900
        assert reasoning.sent_params(900) == {"max_completion_tokens": 900}

    def test_the_dense_estimate_counts_each_non_ascii_character(self):
        assert dense_estimate("abcdefgh") == estimate_tokens("abcdefgh") == 2
        assert dense_estimate("日本語のテキスト") == 8
        assert dense_estimate("café") == 2  # "caf" is one token, "é" another


class TestProviderAddresses:
    @pytest.mark.parametrize(
        "address",
        [
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "172.20.0.5",
            "192.168.1.10",
            "100.64.0.7",
            "fd12::1",
            "8.8.8.8",
            "2001:4860:4860::8888",
        ],
    )
    def test_public_loopback_and_private_network_providers_are_reached(self, address):
        assert address_allowed(address, allow_private=False, networks=PROVIDER_NETWORKS)

    @pytest.mark.parametrize(
        "address",
        [
            "169.254.169.254",
            "fe80::1",
            "100.100.100.200",
            "fd00:ec2::254",
            "0.0.0.0",
            "224.0.0.1",
            "240.0.0.1",
            "::ffff:169.254.169.254",
        ],
    )
    def test_link_local_metadata_multicast_and_reserved_addresses_are_refused(self, address):
        assert not address_allowed(address, allow_private=False, networks=PROVIDER_NETWORKS)


class TestSettings:
    def test_the_cache_is_per_project_unless_an_operator_shares_it(self, monkeypatch):
        assert load_settings().section(LLMSettings).cache_scope == "project"
        monkeypatch.setenv("DEVFLOW_LLM__CACHE_SCOPE", "shared")
        assert load_settings().section(LLMSettings).cache_scope == "shared"
        monkeypatch.setenv("DEVFLOW_LLM__CACHE_SCOPE", "everyone")
        with pytest.raises(Invalid, match="CACHE_SCOPE"):
            load_settings()


def test_budget_refusals_exit_with_their_own_code():
    from devflow.cli.main import EXIT_CODES, exit_code
    from devflow.core.cli import error_class

    assert exit_code(BudgetExceeded("over")) == exit_code(QuotaExceeded("over")) == 7
    assert exit_code(Invalid("bad")) != 7
    assert sorted(set(EXIT_CODES.values())) == [2, 3, 4, 5, 6, 7]
    # The CLI knows a domain's own error code by its HTTP status.
    assert error_class(BudgetExceeded.code, BudgetExceeded.status) is QuotaExceeded
    assert error_class("invalid", 422) is Invalid
