"""Whose x-forwarded-for is believed: only a listed proxy's, however gRPC spells the peer."""

import pytest

from memoire_server.limits import TrustedProxies, address_of_peer


@pytest.mark.parametrize(
    ("peer", "address"),
    [
        ("ipv4:10.0.0.7:5000", "10.0.0.7"),
        ("ipv6:%5B::1%5D:37616", "::1"),
        ("ipv6:[2001:db8::2]:443", "2001:db8::2"),
        ("unix:/tmp/memoire/grpc.sock", "unix"),
    ],
)
def test_the_peer_address_is_the_ip_without_its_port(peer, address):
    assert address_of_peer(peer) == address


def test_an_ipv6_proxy_is_trusted_from_its_escaped_peer():
    proxies = TrustedProxies.parse("::1/128, 10.0.0.0/8")
    assert proxies.trusts(address_of_peer("ipv6:%5B::1%5D:37616"))
    assert proxies.trusts(address_of_peer("ipv4:10.1.2.3:80"))
    assert not proxies.trusts(address_of_peer("ipv4:192.0.2.1:80"))
    assert not proxies.trusts(address_of_peer("unix:/tmp/s"))


def test_a_bad_entry_is_refused_by_name():
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300'"):
        TrustedProxies.parse("10.0.0.300")
