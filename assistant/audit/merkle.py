"""RFC 6962 (Certificate Transparency) Merkle tree hashing.

Leaves are hashed as ``SHA-256(0x00 || data)`` and inner nodes as
``SHA-256(0x01 || left || right)``; the two prefixes keep a leaf from ever
being passed off as a node (second-preimage attacks). ``Frontier`` is the
compact state of a growing tree -- the roots of its perfect subtrees -- so a
checkpoint can extend the last one instead of re-reading the whole log, and a
retention purge can drop a prefix of the log yet keep every later root
computable from the stored frontier (the "anchor").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): RFC 6962's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


@dataclass(slots=True)
class Frontier:
    """The perfect-subtree roots ("peaks") of a tree of ``size`` leaves, largest first."""

    size: int = 0
    peaks: list[bytes] = field(default_factory=list)

    def append(self, leaf: bytes) -> None:
        self.peaks.append(leaf)
        self.size += 1
        # a new leaf merges with equal-sized peaks: one merge per trailing 1-bit of the old size
        n = self.size
        while n % 2 == 0:
            right = self.peaks.pop()
            left = self.peaks.pop()
            self.peaks.append(node_hash(left, right))
            n //= 2

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        """MTH of the tree: RFC 6962's recursion is a right fold over the peaks."""
        if not self.peaks:
            return EMPTY_ROOT
        acc = self.peaks[-1]
        for peak in reversed(self.peaks[:-1]):
            acc = node_hash(peak, acc)
        return acc

    def copy(self) -> Frontier:
        return Frontier(self.size, list(self.peaks))

    def ranges(self) -> list[tuple[int, int]]:
        """The leaf range ``[lo, hi)`` each peak covers, in order."""
        out: list[tuple[int, int]] = []
        lo = 0
        for bit in reversed(range(self.size.bit_length())):
            if self.size >> bit & 1:
                out.append((lo, lo + (1 << bit)))
                lo += 1 << bit
        return out

    def to_json(self) -> dict[str, object]:
        return {"size": self.size, "peaks": [p.hex() for p in self.peaks]}

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> Frontier:
        size, peaks = obj.get("size"), obj.get("peaks")
        if not isinstance(size, int) or not isinstance(peaks, list):
            raise ValueError("frontier needs an integer size and a list of peaks")
        frontier = cls(size, [bytes.fromhex(str(p)) for p in peaks])
        if len(frontier.peaks) != size.bit_count():
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} peaks")
        return frontier


def root_of(leaves: Sequence[bytes]) -> bytes:
    frontier = Frontier()
    frontier.extend(leaves)
    return frontier.root()


def inclusion_proof(
    index: int, size: int, leaf: Callable[[int], bytes], base: Frontier | None = None
) -> list[bytes]:
    """RFC 6962 ``PATH(index, D[size])``, bottom-up.

    ``leaf(i)`` gives the leaf hash at ``i``; leaves below ``base.size`` (a purged
    prefix) are never asked for: whole subtrees there are ``base``'s peaks.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    known = dict(zip(base.ranges(), base.peaks, strict=True)) if base else {}
    if base is not None and index < base.size:
        raise ValueError(f"leaf {index} was purged (the log starts at {base.size})")

    def subtree(lo: int, hi: int) -> bytes:
        if (lo, hi) in known:
            return known[(lo, hi)]
        if hi - lo == 1:
            return leaf(lo)
        k = _split(hi - lo)
        return node_hash(subtree(lo, lo + k), subtree(lo + k, hi))

    def path(m: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo == 1:
            return []
        k = _split(hi - lo)
        if m < k:
            return [*path(m, lo, lo + k), subtree(lo + k, hi)]
        return [*path(m - k, lo + k, hi), subtree(lo, lo + k)]

    return path(index, 0, size)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: does ``proof`` put ``leaf`` at ``index`` under ``root``?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
