#!/usr/bin/env python3
"""Regenerate the sample document set in data/sample/ deterministically.

The documents describe a fictional organisation, Brackenfield Instruments Ltd,
and were written for this project. They are used by the demo and the
end-to-end tests, so each fact appears in exactly one document (and, for the
PDF, on exactly one page) and no two documents give contradictory numbers.

Usage:
    python data/make_sample.py            # write data/sample/*
    python data/make_sample.py --check    # write, then read everything back

Needs reportlab and python-docx (and pypdf for --check). A rerun produces
byte-identical files: reportlab runs with ``invariant=1``, the DOCX core
properties are fixed and its zip entries get a fixed timestamp.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "sample"

ORG = "Brackenfield Instruments Ltd"
FIXED_DATETIME = dt.datetime(2024, 3, 1, 9, 0, 0)
ZIP_DATE_TIME = (2024, 3, 1, 9, 0, 0)

ANNUAL_LEAVE_SENTENCE = (
    "Full-time employees are entitled to 27 days of paid annual leave per calendar year, "
    "in addition to public holidays."
)

# --------------------------------------------------------------------------
# 1. HR handbook (PDF, 5 pages, one heading + 2-4 paragraphs per page)
# --------------------------------------------------------------------------


def _paragraphs(block: str) -> list[str]:
    """Split a text block on blank lines and join each paragraph's lines with single spaces."""
    return [" ".join(p.split()) for p in block.strip().split("\n\n")]


HR_PAGES: list[tuple[str, list[str]]] = [
    (
        "Welcome and Working Hours",
        _paragraphs(f"""
Welcome to {ORG}. This handbook explains the everyday rules that apply to all
employees at our Harrow Lane site and in the regional offices. It does not
replace your contract of employment; where the two differ, your contract takes
precedence.

The standard working week is 37.5 hours, Monday to Friday. Within a flexible
working window from 07:30 to 19:00 you may choose your own start and finish
times, as long as you are available during the core hours of 10:00 to 15:00.

A lunch break of at least 30 minutes must be taken on any day on which you work
more than six hours. Overtime is only paid when your line manager has agreed it
in advance; otherwise extra hours are recorded as time off in lieu.
"""),
    ),
    (
        "Probation and Notice Periods",
        _paragraphs("""
Every new employee starts with a probation period of six months. Your line
manager holds review meetings after the first and the fourth month and confirms
the outcome in writing before the probation period ends. In exceptional cases
probation may be extended once, by up to three months.

During probation, either side may end the employment with one week of notice.

After a successful probation, the notice period is one month for both sides.
Once you have completed five years of continuous service, the notice period that
the company must give rises to three months.

Resignations must be submitted in writing to your line manager, with a copy to
the HR team. Your last day is calculated from the day the resignation is
received.
"""),
    ),
    (
        "Annual Leave",
        [
            ANNUAL_LEAVE_SENTENCE,
            *_paragraphs("""
Part-time employees receive a pro-rata entitlement based on their contracted
hours. The leave year runs from 1 January to 31 December, and new starters
receive a proportional share for the part of the year in which they are
employed.

To request leave, complete form HR-14 through the staff portal at least 10
working days before the first day of absence. Your line manager approves or
declines the request in the portal, and you will receive an e-mail
confirmation.

Unused leave can only be carried over into the following year with the written
agreement of your line manager. Leave cannot be exchanged for pay, except for
untaken leave when you leave the company.
"""),
        ],
    ),
    (
        "Sick Leave",
        _paragraphs("""
If you are unwell and cannot work, report your absence to your line manager by
telephone before 10:00 on the first day of absence. A message left with a
colleague is not sufficient.

You may self-certify sickness for up to 3 consecutive calendar days. From the
fourth day of absence onwards you must provide a doctor's note, which you upload
to the staff portal or send to the HR team.

When you return, your line manager will hold a short return-to-work
conversation with you. Its purpose is to check that you are fit to work and to
agree any support you may need, not to question the absence.
"""),
    ),
    (
        "Parental Leave and Contacts",
        _paragraphs("""
Birth parents and primary adopters are entitled to 26 weeks of parental leave,
of which the first 18 weeks are paid at full salary. Partners are entitled to 4
weeks of partner leave at full salary, to be taken within six months of the
birth or placement.

Please tell the HR team about planned parental leave at least 15 weeks before
the expected week of birth or placement, so that cover can be arranged in good
time.

The HR team can be reached at hr@example.org or on internal extension 2400. The
HR office is in room 1.12 on the first floor and is staffed from 09:00 to 16:00,
Monday to Friday.
"""),
    ),
]


def make_hr_handbook(path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

    heading = ParagraphStyle(
        "Heading", fontName="Helvetica-Bold", fontSize=18, leading=22, spaceAfter=14
    )
    body = ParagraphStyle("Body", fontName="Helvetica", fontSize=10, leading=14, spaceAfter=10)

    doc = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=1.8 * cm,
        rightMargin=1.8 * cm,
        topMargin=2 * cm,
        bottomMargin=2 * cm,
        title="Employee Handbook",
        author=f"{ORG} HR Team",
        subject="HR policies: working hours, probation, leave, sickness",
        creator="data/make_sample.py",
        invariant=1,
    )
    story = []
    for i, (title, paragraphs) in enumerate(HR_PAGES):
        if i:
            story.append(PageBreak())
        story.append(Paragraph(title, heading))
        story.append(Spacer(1, 4))
        story.extend(Paragraph(p, body) for p in paragraphs)
    doc.build(story)


# --------------------------------------------------------------------------
# 2. IT security policy (DOCX)
# --------------------------------------------------------------------------

# One line per block: "h1: ...", "h2: ...", "li: ..." or a body paragraph
# (which may wrap over several lines). Blocks are separated by blank lines.
IT_POLICY_SOURCE = f"""
h1: IT Security Policy

This policy applies to every employee, contractor and visitor who uses IT
equipment or accounts provided by {ORG}. It is owned by the IT Security team
and reviewed once a year.

h2: Passwords

Passwords must be at least 14 characters long. Long passphrases made of several
unrelated words are encouraged, and every account must have its own password.
Use the company password manager to store them.

Passwords are not changed on a fixed schedule. You must change a password
immediately when it has been compromised or when you suspect that someone else
knows it.

h2: Multi-Factor Authentication

Multi-factor authentication (MFA) is required for all remote access, including
the VPN, webmail and the staff portal when used from outside the office network.
Approved second factors are the company authenticator app and hardware security
keys issued by IT.

h1: Incident Reporting

h2: Phishing

If you receive a suspicious e-mail, do not click any links or open attachments.
Report phishing to security@example.org within 1 hour of noticing it, even if
you have already clicked a link or entered a password. Fast reporting limits the
damage; nobody will be blamed for reporting a mistake.

h1: Devices and Data

h2: Laptop Encryption

All company laptops are protected with full-disk encryption. IT enables it
before a laptop is handed out, and it must never be switched off. A laptop
without full-disk encryption may not be connected to the company network.

h2: Removable Media

USB storage devices are blocked on all company computers. If you have a business
need to use one, request an exception with form IT-7; the device is unblocked
only after the request has been approved by the IT Security team.

h2: Screen Lock

Screens lock automatically after 5 minutes of inactivity. Lock your screen
yourself whenever you leave your desk, even for a short time.

h2: Summary

li: Passwords: at least 14 characters, changed only when compromised.

li: MFA: required for remote access.

li: Phishing: report to security@example.org within 1 hour.

li: Laptops: full-disk encryption, always on.

li: USB storage: blocked unless approved via form IT-7.

li: Screen lock: after 5 minutes of inactivity.
"""


def _it_policy_blocks() -> list[tuple[str, str]]:
    """Return (kind, text) pairs, kind being "h1", "h2", "li" or "p"."""
    blocks = []
    for text in _paragraphs(IT_POLICY_SOURCE):
        kind, sep, rest = text.partition(": ")
        if sep and kind in ("h1", "h2", "li"):
            blocks.append((kind, rest))
        else:
            blocks.append(("p", text))
    return blocks


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed timestamps and attributes so reruns are byte-identical."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            fixed.create_system = 0
            dst.writestr(fixed, src.read(info.filename), compresslevel=9)
    return out.getvalue()


def make_it_policy(path: Path) -> None:
    import docx

    document = docx.Document()
    styles = {"h1": "Heading 1", "h2": "Heading 2", "p": None, "li": "List Bullet"}
    for kind, text in _it_policy_blocks():
        if kind in ("h1", "h2"):
            document.add_heading(text, level=int(kind[1]))
        else:
            document.add_paragraph(text, style=styles[kind])

    props = document.core_properties
    props.title = "IT Security Policy"
    props.subject = "Information security rules for staff"
    props.author = f"{ORG} IT Security"
    props.last_modified_by = f"{ORG} IT Security"
    props.keywords = "passwords, MFA, phishing, encryption, USB, screen lock"
    props.comments = "Sample document generated by data/make_sample.py"
    props.category = "Policy"
    props.revision = 1
    props.created = FIXED_DATETIME
    props.modified = FIXED_DATETIME
    props.last_printed = FIXED_DATETIME

    buf = io.BytesIO()
    document.save(buf)
    path.write_bytes(_normalise_zip(buf.getvalue()))


# --------------------------------------------------------------------------
# 3. Expenses policy (Markdown)
# --------------------------------------------------------------------------

EXPENSES_MD = f"""\
# Expenses Policy

This policy explains how employees of {ORG} claim back costs they have paid
for out of their own pocket while on company business.

## Submitting a claim

Submit every claim with form FIN-3 within 30 days of the expense. Claims that
arrive later are only paid in exceptional circumstances and with the written
agreement of the Finance team.

Receipts are required for every single item above 25 EUR. Scan or photograph
the receipt and attach it to the FIN-3 form; keep the original until the claim
has been paid.

## Accommodation

The cost of a hotel is reimbursed up to 150 EUR per night. In capital cities the
cap is 220 EUR per night. Breakfast may be included in the room rate. Costs above
the cap are only paid if they were approved before the trip.

## Meals

A meal allowance of 35 EUR per day covers all meals and non-alcoholic drinks on
a business trip. The allowance is not paid for meals that are already provided,
for example at a conference.

## Mileage

When you use your private car for business travel, mileage is reimbursed at
0.30 EUR per km. Record the start and end point and the purpose of each journey
on the claim. Commuting between home and your usual workplace is not business
travel.

## Approval and payment

Every claim must be approved by your line manager. Approved claims are paid by
Finance on the 15th of the month, together with any other claims approved
since the previous payment run. If the 15th is not a working day, payment is
made on the working day before.

## Questions

Questions about expenses go to the Finance team at finance@example.org.
"""


# --------------------------------------------------------------------------
# 4. Facilities guide (HTML)
# --------------------------------------------------------------------------

FACILITIES_HTML = f"""\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Facilities Guide - {ORG}</title>
</head>
<body>
<h1>Facilities Guide</h1>
<p>This page describes the building services at the Harrow Lane site of {ORG}.
For anything not covered here, contact the reception desk on extension 2100.</p>

<h2>Opening Hours</h2>
<p>The building is open from 07:00 to 20:00 on weekdays. It is closed at weekends and
on public holidays; out-of-hours access must be arranged with Facilities in advance.</p>

<h2>Visitors</h2>
<p>Visitor badges are issued at reception. Every visitor must be signed in by a host,
who is an employee responsible for the visitor for the whole visit.</p>
<ul>
  <li>Register expected visitors with reception the day before the visit.</li>
  <li>Meet your visitor at reception and sign them in.</li>
  <li>Return the visitor badge to reception when the visitor leaves.</li>
</ul>

<h2>Meeting Rooms</h2>
<p>Meeting rooms are booked in the room planner. A single booking may last a maximum
of 4 hours. Please cancel bookings you no longer need so that colleagues can use the room.</p>

<h2>Lost Property</h2>
<p>Lost property is handed in at reception and kept for 30 days. Items that have not been
collected after that time are donated to charity or disposed of.</p>

<h2>Fire Safety</h2>
<p>When the fire alarm sounds, leave the building by the nearest exit and go to the fire
assembly point in car park B. Do not use the lifts, and do not go back inside until the
fire wardens say it is safe.</p>
</body>
</html>
"""


# --------------------------------------------------------------------------
# 5. Travel FAQ (plain text)
# --------------------------------------------------------------------------

TRAVEL_FAQ = f"""\
Business Travel FAQ - {ORG}

Q: Should I take the train or fly?
A: Rail is the preferred way to travel for journeys under 500 km. Flights for
shorter distances are only approved when the train would take far longer or
would require an extra overnight stay.

Q: Which class may I book for flights?
A: Book economy class for flights under 6 hours. For flights of 6 hours or
longer, premium economy may be booked.

Q: Who books my travel?
A: Trips are booked by the travel desk. Send your request to travel@example.org
with the dates, destination and the purpose of the trip.

Q: Where do I find the limits for hotels and meals?
A: Hotel and meal limits are set in the expenses policy, not in this FAQ.

Q: Am I insured when I travel for work?
A: Yes. The company travel insurance covers all business trips. The emergency
contact number is printed on the insurance card that the travel desk sends
with your booking confirmation.
"""


# --------------------------------------------------------------------------


def _write_text(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def generate(out: Path = OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "hr-handbook.pdf": make_hr_handbook,
        "it-security-policy.docx": make_it_policy,
        "expenses-policy.md": lambda p: _write_text(p, EXPENSES_MD),
        "facilities.html": lambda p: _write_text(p, FACILITIES_HTML),
        "travel-faq.txt": lambda p: _write_text(p, TRAVEL_FAQ),
    }
    paths = []
    for name, make in files.items():
        path = out / name
        make(path)
        paths.append(path)
    return paths


def check(out: Path = OUT) -> None:
    """Read the generated files back and assert the facts the tests rely on."""
    import docx
    from pypdf import PdfReader

    def squash(s: str) -> str:
        return " ".join(s.split())

    pdf = out / "hr-handbook.pdf"
    pages = [squash(p.extract_text() or "") for p in PdfReader(str(pdf)).pages]
    assert len(pages) == len(HR_PAGES), f"expected {len(HR_PAGES)} pages, got {len(pages)}"
    for i, (title, _) in enumerate(HR_PAGES):
        assert title in pages[i], f"heading {title!r} not on page {i + 1}"
    hits = [i + 1 for i, text in enumerate(pages) if ANNUAL_LEAVE_SENTENCE in text]
    assert hits == [3], f"annual-leave sentence found on pages {hits}, expected [3]"
    for i, text in enumerate(pages):
        if i != 2:
            assert "annual leave" not in text.lower(), f"page {i + 1} mentions annual leave"
    assert "HR-14" in pages[2] and "10 working days" in pages[2]
    assert pdf.stat().st_size < 100_000

    docx_path = out / "it-security-policy.docx"
    document = docx.Document(str(docx_path))
    body = "\n".join(p.text for p in document.paragraphs)
    for fact in (
        "14 characters",
        "security@example.org within 1 hour",
        "form IT-7",
        "5 minutes",
        "full-disk encryption",
        "required for all remote access",
    ):
        assert fact in body, f"{fact!r} missing from the DOCX"
    styles = {p.style.name for p in document.paragraphs}
    assert {"Heading 1", "Heading 2"} <= styles, styles
    assert docx_path.stat().st_size < 60_000

    md = (out / "expenses-policy.md").read_text(encoding="utf-8")
    for fact in ("FIN-3", "150 EUR", "220 EUR", "35 EUR", "0.30 EUR", "25 EUR", "15th"):
        assert fact in md, fact
    html = (out / "facilities.html").read_text(encoding="utf-8")
    for fact in ("07:00 to 20:00", "car park B", "30 days", "4 hours", "signed in by a host"):
        assert fact in html, fact


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="read the files back and verify them")
    parser.add_argument(
        "--out", type=Path, default=OUT, help="output directory (default: data/sample)"
    )
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(f"{path.stat().st_size:>8}  {path}")
    if args.check:
        check(args.out)
        print("check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
