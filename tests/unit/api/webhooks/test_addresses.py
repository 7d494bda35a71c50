"""Where webhooks may go: every kind of non-public address is refused, public ones pass."""

from __future__ import annotations

import ipaddress

import pytest

from bookstore_api.webhooks.addresses import AddressPolicy, RefusedURL, address_problem


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("192.168.0.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("192.0.0.192", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", ""),
        ("198.18.0.1", ""),
        ("192.0.2.10", ""),
        ("2001:db8::1", ""),
        ("::ffff:10.0.0.1", "private"),
        ("2002:a9fe:a9fe::1", "metadata"),  # 6to4 around 169.254.169.254
        ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
    ],
)
def test_addresses_that_are_not_public_are_refused(address, problem):
    found = address_problem(ipaddress.ip_address(address))
    assert found is not None and problem in found


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "1.1.1.1"])
def test_public_addresses_pass(address):
    assert address_problem(ipaddress.ip_address(address)) is None


def test_allow_loopback_lets_only_loopback_through():
    assert address_problem(ipaddress.ip_address("127.0.0.1"), allow_loopback=True) is None
    assert address_problem(ipaddress.ip_address("::1"), allow_loopback=True) is None
    for other in ("10.0.0.1", "169.254.169.254", "0.0.0.0", "fd00:ec2::254"):
        assert address_problem(ipaddress.ip_address(other), allow_loopback=True) is not None


def fixed(answers):
    return lambda host, port: [ipaddress.ip_address(a) for a in answers[host]]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://93.184.215.14/",
        "file:///etc/passwd",
        "gopher://93.184.215.14/",
        "https://user@93.184.215.14/",
        "https://:pw@93.184.215.14/",
        "https://93.184.215.14:99999/",
        "https:///nohost",
        "https://93.184.215.14/#frag",
    ],
)
def test_urls_that_are_not_plain_http_are_refused(url):
    with pytest.raises(RefusedURL):
        AddressPolicy(resolver=fixed({})).check(url)


def test_every_address_of_a_name_is_checked():
    policy = AddressPolicy(resolver=fixed({"mixed.test": ["93.184.215.14", "10.0.0.7"], "ok.test": ["8.8.8.8"]}))
    with pytest.raises(RefusedURL, match="10.0.0.7"):
        policy.check("https://mixed.test/hooks")
    target = policy.check("HTTPS://ok.test:8443/hooks?x=1")
    assert (target.host, target.port, target.https, target.path) == ("ok.test", 8443, True, "/hooks?x=1")
    assert [str(a) for a in target.addresses] == ["8.8.8.8"]
