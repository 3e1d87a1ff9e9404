"""Writes the Arabic parsing fixtures beside this file: the same short policy as HTML, as a
DOCX (python-docx, right-to-left paragraphs), as a PDF printed by Chromium (embedded,
shaped fonts: the way most Arabic PDFs are made), and as a scan (a Chromium screenshot,
saved as PNG and as an image-only PDF). Run once by hand; the outputs are committed so the
tests need neither Chromium nor fonts: python tests/data/arabic/make_fixtures.py"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
TITLE = "سياسة العمل عن بعد"
PARAGRAPHS = [
    "يحق للموظف العمل عن بعد يومين في الأسبوع بعد موافقة مديره المباشر.",
    "يجب تقديم النموذج رقم ٤٥ إلى إدارة الموارد البشرية قبل ١٠ أيام من بدء العمل عن بعد.",
    "يستخدم الموظف برنامج VPN عند الاتصال بأنظمة الجهة من المنزل.",
]
#: In the PDF only: a paragraph long enough to wrap over several lines, then an English page.
LONG = (
    "تلتزم الجهة بحماية البيانات الشخصية وفق نظام حماية البيانات الشخصية، ولا يجوز للموظف "
    "نقل أي بيانات خارج أنظمة الجهة أو حفظها على أجهزة شخصية، ويجب الإبلاغ عن أي حادثة "
    "أمنية خلال ٢٤ ساعة من اكتشافها إلى مركز العمليات الأمنية على الرقم ٩٩٠."
)
ENGLISH = "Page two is in English: the help desk answers VPN questions on extension 4471."
#: ... with its Arabic translation below it, as bilingual policies are laid out.
TRANSLATION = "يجيب مكتب المساعدة عن أسئلة VPN على التحويلة ٤٤٧١."


def html(size: str = "18px", *, more: bool = False) -> str:
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS + ([LONG] if more else []))
    if more:
        body += f'<p dir="ltr" style="page-break-before:always">{ENGLISH}</p><p>{TRANSLATION}</p>'

    return (
        '<!doctype html><html lang="ar" dir="rtl"><head><meta charset="utf-8">'
        f"<title>{TITLE}</title><style>body{{font-family:'Noto Sans Arabic','DejaVu Sans';"
        f"font-size:{size};margin:40px;background:#fff}}</style></head>"
        f"<body><h1>{TITLE}</h1>{body}</body></html>"
    )


def docx(path: Path) -> None:
    from docx import Document
    from docx.oxml.ns import qn
    from docx.oxml.shared import OxmlElement

    doc = Document()
    for text, style in [(TITLE, "Heading 1")] + [(p, None) for p in PARAGRAPHS]:
        par = doc.add_paragraph(text, style=style)
        bidi = OxmlElement("w:bidi")  # a right-to-left paragraph, as Word writes one
        par._p.get_or_add_pPr().append(bidi)
        for run in par.runs:
            rtl = OxmlElement("w:rtl")
            run._r.get_or_add_rPr().append(rtl)
            run._r.get_or_add_rPr().append(OxmlElement("w:cs"))
        _ = qn
    doc.save(str(path))


def chromium(args: list[str], page: Path) -> None:
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", *args, page.as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
    )


def main() -> None:
    texts = {
        "title": TITLE,
        "paragraphs": PARAGRAPHS,
        "long": LONG,
        "english": ENGLISH,
        "translation": TRANSLATION,
    }  # what the tests expect to read back (tests/test_ingest_arabic.py)
    (HERE / "texts.json").write_text(json.dumps(texts, ensure_ascii=False, indent=1), "utf-8")
    (HERE / "policy.html").write_text(html(), "utf-8")
    docx(HERE / "policy.docx")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(html(more=True), "utf-8")
        chromium([f"--print-to-pdf={HERE / 'policy.pdf'}", "--no-pdf-header-footer"], page)
        page.write_text(html("30px"), "utf-8")
        shot = Path(tmp) / "shot.png"
        chromium([f"--screenshot={shot}", "--window-size=1200,520", "--hide-scrollbars"], page)
        from PIL import Image

        image = Image.open(shot).convert("L")
        image.save(HERE / "scan.png", optimize=True)
        image.save(HERE / "scan.pdf", resolution=150.0)


if __name__ == "__main__":
    main()
