"""Generators for the ingest tests: good documents and a corpus of bad ones, made on the fly.

Nothing here is checked in as a binary: every PDF, DOCX, image and broken file is
built by the test that needs it, so the inputs are visible in code.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ARABIC = (
    "يحق لكل موظف ثلاثين يوما من الإجازة السنوية المدفوعة في كل عام. "
    "تبدأ ساعات العمل في الثامنة صباحا."
)
LATIN1 = (
    "La cantine de l'entreprise ouvre à midi précise. "
    "Les employés reçoivent une prime de fin d'année."
)


def text_pdf(path: Path, pages: list[str], *, encrypt_with: str | None = None) -> Path:
    """A PDF with a text layer, one string per page (optionally password-protected)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, encrypt=encrypt_with)
    for text in pages:
        y = 700
        for line in _wrap(text, 80):
            c.drawString(72, y, line)
            y -= 16
        c.showPage()
    c.save()
    path.write_bytes(buf.getvalue())
    return path


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return [*lines, current] if current else lines


def text_image(text: str, *, size: tuple[int, int] = (1400, 260)) -> Image.Image:
    """Black text on white, large enough for tesseract to read reliably."""
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = _font(44)
    y = 40
    for line in _wrap(text, 48):
        draw.text((40, y), line, fill="black", font=font)
        y += 64
    return img


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for candidate in (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    ):
        if os.path.exists(candidate):
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size=size)


def image_only_pdf(path: Path, text: str) -> Path:
    """A 'scanned' PDF: one page holding a picture of text and no text layer."""
    text_image(text).save(path, "PDF", resolution=150.0)
    return path


def docx(path: Path, heading: str, paragraphs: list[str]) -> Path:
    import docx as python_docx

    document = python_docx.Document()
    document.add_heading(heading, level=1)
    for p in paragraphs:
        document.add_paragraph(p)
    document.save(str(path))
    return path


def zip_bomb_docx(path: Path, *, unpacked_mb: int = 64) -> Path:
    """A DOCX-shaped zip whose document part inflates to ``unpacked_mb`` of zeros.

    The zip's central directory declares the real uncompressed size, so a
    check can refuse it without inflating anything.
    """
    chunk = b"\0" * (1024 * 1024)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("word/document.xml", "w", force_zip64=True) as part:
            for _ in range(unpacked_mb):
                part.write(chunk)
    return path


def bad_corpus(folder: Path) -> dict[str, str]:
    """Write the bad-input corpus; returns file name -> expected outcome code ("ok" = ingested)."""
    folder.mkdir(parents=True, exist_ok=True)
    good = text_pdf(folder / "whole.pdf", ["The whole report says the roof was repaired in May."])
    data = good.read_bytes()
    (folder / "truncated.pdf").write_bytes(data[: len(data) // 2])
    text_pdf(folder / "locked.pdf", ["Salaries are confidential."], encrypt_with="s3cret")
    zip_bomb_docx(folder / "bomb.docx")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "really-a-pdf.docx").write_bytes(
        text_pdf(
            folder / ".tmp.pdf", ["A PDF that was renamed to docx names the fire exits."]
        ).read_bytes()
    )
    (folder / ".tmp.pdf").unlink()
    (folder / "random.pdf").write_bytes(os.urandom(4096))
    (folder / "arabic.txt").write_bytes(ARABIC.encode("cp1256"))
    (folder / "latin1.txt").write_bytes(LATIN1.encode("latin-1"))
    (folder / "huge.txt").write_bytes(b"big file.\n" * (110 * 1024))  # ~1.1 MB, cap set to 1 MB
    image_only_pdf(folder / "scan.pdf", "The scanned memo says the canteen closes on Friday.")
    depth = 10_000
    (folder / "deep.html").write_text(
        "<html><body>" + "<div>" * depth + "<p>deep</p>" + "</div>" * depth + "</body></html>"
    )
    return {
        "whole.pdf": "ok",
        "truncated.pdf": "corrupt",
        "locked.pdf": "encrypted",
        "bomb.docx": "zip_bomb",
        "empty.txt": "no_text",
        "really-a-pdf.docx": "ok",
        "random.pdf": "unsupported_format",
        "arabic.txt": "ok",
        "latin1.txt": "ok",
        "huge.txt": "too_large",
        "scan.pdf": "ocr_unavailable",
        "deep.html": "too_deep",
    }


CORPUS_WORDS = (
    "leave payroll badge canteen parking invoice travel laptop password backup contract "
    "holiday training safety visitor archive printer budget audit meeting"
).split()


def mixed_corpus(folder: Path, n: int, *, seed: int = 0, sample: Path | None = None) -> Path:
    """``n`` generated documents -- text, Markdown, DOCX and three-page PDFs, four paragraphs
    of 40-120 words each -- after a copy of ``sample`` (data/sample) when given."""
    import random
    import shutil

    if sample is not None:
        shutil.copytree(sample, folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for i in range(n):
        paras = [
            " ".join(rng.choice(CORPUS_WORDS) for _ in range(rng.randint(40, 120)))
            for _ in range(4)
        ]
        if i % 7 == 6:
            text_pdf(folder / f"report-{i}.pdf", [f"Report {i}. {paras[0]}", paras[1], paras[2]])
        elif i % 5 == 4:
            docx(folder / f"memo-{i}.docx", f"Memo {i}", paras)
        else:
            suffix = ".md" if i % 2 else ".txt"
            (folder / f"note-{i}{suffix}").write_text(f"# Note {i}\n\n" + "\n\n".join(paras))
    return folder
