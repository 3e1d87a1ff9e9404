"""RFC 6962 hashing against the Certificate Transparency reference vectors."""

from __future__ import annotations

import hashlib

import pytest

from assistant.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_inclusion,
)

# the leaves and roots of the certificate-transparency merkle test vectors
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, literally."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def test_reference_roots() -> None:
    hashes = [leaf_hash(x) for x in LEAVES]
    assert root_of([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    for n, expected in enumerate(ROOTS, start=1):
        assert root_of(hashes[:n]).hex() == expected


def test_reference_inclusion_proof() -> None:
    hashes = [leaf_hash(x) for x in LEAVES]
    proof = inclusion_proof(5, 8, hashes.__getitem__)
    assert [p.hex() for p in proof] == [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]
    assert verify_inclusion(hashes[5], 5, 8, proof, bytes.fromhex(ROOTS[7]))


def test_frontier_matches_the_recursive_definition_at_every_size() -> None:
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(70)]
    frontier = Frontier()
    for n, h in enumerate(hashes, start=1):
        frontier.append(h)
        assert frontier.root() == _mth(hashes[:n])
        assert len(frontier.peaks) == n.bit_count()
        again = Frontier.from_json(frontier.to_json())
        assert again.root() == frontier.root() and again.size == n


@pytest.mark.parametrize("base_size", [0, 1, 3, 6, 8, 13])
def test_inclusion_proofs_for_every_leaf_even_after_a_purged_prefix(base_size: int) -> None:
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(21)]
    base = Frontier()
    base.extend(hashes[:base_size])

    def leaf(i: int) -> bytes:
        assert i >= base_size, "a purged leaf was asked for"
        return hashes[i]

    for size in range(max(base_size, 1), len(hashes) + 1):
        root = _mth(hashes[:size])
        for index in range(base_size, size):
            proof = inclusion_proof(index, size, leaf, base if base_size else None)
            assert verify_inclusion(hashes[index], index, size, proof, root)
            assert not verify_inclusion(leaf_hash(b"other"), index, size, proof, root)
            if size > 1:
                assert not verify_inclusion(hashes[index], index, size, proof[:-1], root)


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert leaf_hash(a + b) != node_hash(a, b)
