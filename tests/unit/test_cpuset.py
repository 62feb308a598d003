import pytest

from kata_numa.cpuset import format_cpulist, parse_cpulist
from kata_numa.errors import InputError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0-3,8,10-11", {0, 1, 2, 3, 8, 10, 11}),
        ("", set()),
        ("\n", set()),
        ("  5 \n", {5}),
        ("0,2-3", {0, 2, 3}),
        ("0-1\n\x00", {0, 1}),
        ("250-255", set(range(250, 256))),
        ("7-7", {7}),
    ],
)
def test_parses_cpulists(text, expected):
    assert parse_cpulist(text) == frozenset(expected)


@pytest.mark.parametrize("text", ["1,,2", "3-1", "a", "-1", "1-", "0x3", "１"])
def test_rejects_malformed_cpulists_naming_the_input(text):
    with pytest.raises(InputError, match="host-nodes"):
        parse_cpulist(text, what="host-nodes")


@pytest.mark.parametrize(
    ("ids", "expected"),
    [({0, 1, 2, 3, 8, 10, 11}, "0-3,8,10-11"), (set(), ""), ({5}, "5"), ([3, 1, 2, 2], "1-3"), ({0, 2}, "0,2")],
)
def test_formats_the_shortest_cpulist(ids, expected):
    assert format_cpulist(ids) == expected


def test_format_and_parse_round_trip():
    ids = {0, 1, 2, 31, 64, 65, 95, 127}
    assert parse_cpulist(format_cpulist(ids)) == ids
