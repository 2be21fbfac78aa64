import pytest

from devflow.core.outbound import (
    AddressRefused,
    OutboundClient,
    OutboundError,
    OutboundPolicy,
    address_allowed,
)
from tests.knowledge_site.server import FixtureSite


@pytest.fixture(scope="module")
def site():
    with FixtureSite() as running:
        yield running


def local(**options):
    return OutboundClient(OutboundPolicy(allow_private=True, **options))


class TestAddresses:
    @pytest.mark.parametrize(
        "address",
        [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "169.254.169.254",
            "::1",
            "fe80::1",
            "fc00::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
            "100.64.0.1",
        ],
    )
    def test_private_loopback_and_link_local_are_refused(self, address):
        assert not address_allowed(address, allow_private=False)

    def test_public_addresses_are_allowed(self):
        assert address_allowed("93.184.216.34", allow_private=False)
        assert address_allowed("2606:4700::1111", allow_private=False)

    def test_allowing_private_networks_still_refuses_unspecified_and_multicast(self):
        assert address_allowed("10.0.0.1", allow_private=True)
        assert not address_allowed("0.0.0.0", allow_private=True)
        assert not address_allowed("224.0.0.1", allow_private=True)


class TestGuard:
    async def test_loopback_is_refused_by_default(self, site):
        async with OutboundClient() as client:
            with pytest.raises(AddressRefused, match="private, loopback or link-local"):
                await client.fetch(f"{site.url}/index.html")

    async def test_a_name_is_checked_on_the_address_it_resolves_to_at_connect_time(self, site):
        # A DNS-rebinding name: checked on what it resolves to when connecting, not by its name.
        async def rebinding(host, port):
            return ["127.0.0.1"]

        async with OutboundClient(resolver=rebinding) as client:
            with pytest.raises(AddressRefused):
                await client.fetch(f"http://docs.example.com:{site.port}/index.html")
        async with OutboundClient(OutboundPolicy(allow_private=True), resolver=rebinding) as client:
            result = await client.fetch(f"http://docs.example.com:{site.port}/index.html")
        assert result.status == 200

    async def test_allowed_private_fetch_follows_redirects(self, site):
        async with local() as client:
            result = await client.fetch(f"{site.url}/old-page")
        assert result.status == 200
        assert result.url.endswith("/guide/install.html")
        assert result.redirects == [f"{site.url}/old-page"]
        assert result.content_type == "text/html"

    async def test_redirect_loops_are_reported(self, site):
        async with local() as client:
            with pytest.raises(OutboundError, match="redirect loop") as caught:
                await client.fetch(f"{site.url}/loop-a")
        assert caught.value.reason == "redirect_loop"

    async def test_bodies_over_the_limit_are_cut_off(self, site):
        async with local(max_bytes=1024 * 1024) as client:
            with pytest.raises(OutboundError, match="limit") as caught:
                await client.fetch(f"{site.url}/huge.txt")
        assert caught.value.reason == "too_large"

    async def test_slow_pages_time_out(self, site):
        async with local(timeout=0.5) as client:
            with pytest.raises(OutboundError, match="timed out"):
                await client.fetch(f"{site.url}/slow")

    async def test_unreachable_hosts_and_bad_urls_say_so(self):
        async with local(connect_timeout=2.0) as client:
            with pytest.raises(OutboundError, match="cannot") as caught:
                await client.fetch("http://unreachable.invalid/")
            assert caught.value.reason == "unreachable"
            with pytest.raises(OutboundError, match="http"):
                await client.fetch("ftp://example.com/file")
