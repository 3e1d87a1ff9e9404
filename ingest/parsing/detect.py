"""Decide what a file is from its bytes, never from its name, and refuse the dangerous ones.

An extension is a claim; the content is the fact. A PDF renamed ``.docx`` is
parsed as the PDF it is, random bytes named ``.pdf`` are refused, and a text
file is decoded with the encoding its bytes show (cp1256 Arabic, latin-1 …)
rather than mangled as UTF-8. Zip containers (DOCX, PPTX, XLSX) are checked
for decompression bombs from their central directory, before anything is
inflated. The extension only picks between text dialects (Markdown, HTML, e-mail).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import filetype

from assistant.errors import CorruptFile, EmptyDocument, UnsupportedFormat, ZipBomb

HEAD_BYTES = 8192
#: A part may inflate this many times its packed size before the zip counts as a bomb
#: (real OOXML XML packs ~10-30x; zeros pack ~1000x).
MAX_ZIP_RATIO = 200
#: Below this many unpacked bytes a high ratio is harmless (tiny repetitive XML parts).
_RATIO_FLOOR = 16 * 1024 * 1024

_OFFICE = "application/vnd.openxmlformats-officedocument."
_OOXML = {
    "word/document.xml": ("docx", _OFFICE + "wordprocessingml.document"),
    "ppt/presentation.xml": ("pptx", _OFFICE + "presentationml.presentation"),
    "xl/workbook.xml": ("xlsx", _OFFICE + "spreadsheetml.sheet"),
}
_IMAGES = {"image/png": "png", "image/jpeg": "jpeg", "image/tiff": "tiff"}
_TEXT_KIND_BY_SUFFIX = {
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".eml": "eml",
}
_MIME_BY_TEXT_KIND = {
    "md": "text/markdown",
    "html": "text/html",
    "eml": "message/rfc822",
    "txt": "text/plain",
}
#: Control bytes that never occur in text (tab, LF, FF, CR and ESC do).
_PREFERRED = ("cp1252", "latin_1", "iso8859_15", "cp1256", "cp1251", "cp1250", "iso8859_6")
_BINARY_BYTES = frozenset(range(0x00, 0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1B}


@dataclass(frozen=True, slots=True)
class Detected:
    """``kind`` is one of pdf, docx, pptx, xlsx, image, html, md, txt, eml."""

    kind: str
    mime_type: str


def detect(path: Path, *, max_unzipped_bytes: int) -> Detected:
    """Sniff ``path``. Raises an ``IngestError`` subclass naming why it cannot be ingested."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    if not head:
        raise EmptyDocument("the file is empty (0 bytes)")
    if b"%PDF-" in head[:1024]:
        return Detected("pdf", "application/pdf")
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(path, max_unzipped_bytes)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise UnsupportedFormat(
            "an OLE compound file: a legacy .doc/.xls/.ppt or a password-protected Office file",
            hint="save it as DOCX/XLSX/PPTX without a password",
        )
    guessed = filetype.guess_mime(head)
    if guessed in _IMAGES:
        return Detected("image", guessed)
    if guessed is not None:
        raise UnsupportedFormat(f"unsupported content type {guessed} ({path.name})")
    if _looks_binary(head):
        raise UnsupportedFormat(
            f"binary content of no supported type (application/octet-stream): {path.name}"
        )
    kind = _TEXT_KIND_BY_SUFFIX.get(path.suffix.lower())
    if kind is None:
        lowered = head[:1024].lstrip().lower()
        kind = "html" if lowered.startswith((b"<!doctype html", b"<html")) else "txt"
    return Detected(kind, _MIME_BY_TEXT_KIND[kind])


def _looks_binary(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return False  # a byte-order mark: UTF-16/UTF-8 text
    controls = sum(1 for b in head if b in _BINARY_BYTES)
    return controls > max(1, len(head) // 100)


def _zip_kind(path: Path, max_unzipped_bytes: int) -> Detected:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CorruptFile(f"a damaged zip container: {exc}") from exc
    names = {i.filename for i in infos}
    found = next((v for k, v in _OOXML.items() if k in names), None)
    if found is None:
        raise UnsupportedFormat(f"a zip archive that is not DOCX, PPTX or XLSX: {path.name}")
    check_zip_bomb(infos, max_unzipped_bytes)
    return Detected(*found)


def check_zip_bomb(infos: list[zipfile.ZipInfo], max_unzipped_bytes: int) -> None:
    """Refuse from the declared sizes: total unpacked size, and per-part compression ratio."""
    total = sum(i.file_size for i in infos)
    if total > max_unzipped_bytes:
        raise ZipBomb(
            f"its parts would unpack to {total:,} bytes, over the {max_unzipped_bytes:,}-byte limit"
        )
    for i in infos:
        ratio = i.file_size / max(i.compress_size, 1)
        if i.file_size > _RATIO_FLOOR and ratio > MAX_ZIP_RATIO:
            raise ZipBomb(
                f"part {i.filename} inflates {ratio:,.0f}x ({i.file_size:,} bytes): "
                "a decompression bomb"
            )


def decode_text(data: bytes) -> str:
    """Bytes to text: UTF-8 (with or without BOM), UTF-16 by BOM, else the detected charset."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise UnsupportedFormat("the text's encoding could not be determined")
    # Short texts fit several code pages equally well (à is ŕ in cp1250); break ties
    # towards the encodings office files are most often written in.
    top = min((m.chaos, -m.coherence) for m in matches)
    tied = [m for m in matches if (m.chaos, -m.coherence) == top]
    tied.sort(key=lambda m: _PREFERRED.index(m.encoding) if m.encoding in _PREFERRED else 99)
    return str(tied[0])
