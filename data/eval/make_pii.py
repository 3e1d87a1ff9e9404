"""Writes data/eval/pii.jsonl: synthetic English and Arabic texts with the personal data in
them marked, for the redaction measurement in ``make eval``. Every number is made up; the
valid ones are generated to pass their checks (Luhn, IBAN mod-97), and the distractors --
amounts, dates, order and form numbers, numbers one digit off -- are what a policy or a
referral letter holds besides. Run once: python data/eval/make_pii.py"""

from __future__ import annotations

import json
import random
from pathlib import Path

rng = random.Random(20261205)
AR = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def luhn_complete(body: str) -> str:
    for d in "0123456789":
        digits = body + d
        total = 0
        for i, ch in enumerate(reversed(digits)):
            n = int(ch)
            if i % 2:
                n = n * 2 - 9 if n > 4 else n * 2
            total += n
        if total % 10 == 0:
            return digits
    raise AssertionError


def broken(number: str) -> str:
    """The same number with its last digit changed: fails its check."""
    last = (int(number[-1]) + 3) % 10
    return number[:-1] + str(last)


def nid(first: str) -> str:
    return luhn_complete(first + "".join(rng.choice("0123456789") for _ in range(8)))


def card(prefix: str, n: int = 16) -> str:
    return luhn_complete(
        prefix + "".join(rng.choice("0123456789") for _ in range(n - 1 - len(prefix)))
    )


def iban_sa() -> str:
    bban = "80" + "".join(rng.choice("0123456789") for _ in range(18))
    for check in range(100):
        candidate = f"SA{check:02d}{bban}"
        moved = candidate[4:] + candidate[:4]
        if int("".join(str(int(c, 36)) for c in moved)) % 97 == 1:
            return candidate
    raise AssertionError


def spaced(number: str, every: int = 4) -> str:
    return " ".join(number[i : i + every] for i in range(0, len(number), every))


def mobile() -> str:
    return "05" + "".join(rng.choice("0123456789") for _ in range(8))


rows: list[dict] = []


def add(text: str, *spans: tuple[str, str], lang: str = "en") -> None:
    for _, value in spans:
        assert value in text, (value, text)
    rows.append({"lang": lang, "text": text, "spans": [list(s) for s in spans]})


names = ["Sara Ahmed", "John Miller", "Fatimah Alqahtani", "Omar Hassan", "Lina Park"]
for i in range(10):
    e = f"{names[i % 5].split()[0].lower()}.{i}@example-hospital.org"
    m = mobile()
    n1, n2 = nid("1"), nid("2")
    c = card(rng.choice(["4", "51", "37"]), 15 if i % 3 == 2 else 16)
    ib = iban_sa()
    mrn = f"{rng.randint(100000, 9999999)}"
    add(
        f"Please contact {names[i % 5]} at {e} or on {m} about the referral.",
        ("EMAIL", e),
        ("PHONE", m),
    )
    add(
        f"Patient national ID {n1}, MRN: {mrn}, admitted on 2024-0{i % 9 + 1}-12 to ward 4.",
        ("NATIONAL_ID", n1),
        ("MRN", mrn),
    )
    add(
        f"The contractor's Iqama number is {n2}; the contract runs for 24 months at 12500 SAR.",
        ("IQAMA", n2),
    )
    add(
        f"Refund to IBAN {spaced(ib)} within 30 days; card ending in {c[-4:]} is not stored.",
        ("IBAN", spaced(ib)),
    )
    add(
        f"The card {spaced(c) if len(c) == 16 else c} was charged 1,250.00 SAR "
        f"for order 2024-{i:05d}.",
        ("CARD", spaced(c) if len(c) == 16 else c),
    )
    # distractors only: nothing here is personal data
    add(
        f"Form HR-{i + 10} must be filed within {i + 5} days; invoice {broken(nid('1'))} is due "
        f"on 1 March 2025 and reference {broken(card('4'))} is a batch number."
    )
    add(
        f"Call the help desk on extension 44{i}{i} or visit room 3.{i}0; version 2.{i}.1 ships "
        f"in Q{i % 4 + 1}."
    )
    # Arabic, with Arabic-Indic digits
    m_ar, n1_ar, n2_ar = mobile().translate(AR), nid("1").translate(AR), nid("2").translate(AR)
    add(
        f"يرجى التواصل مع المريض على الرقم {m_ar} أو البريد {e}.",
        ("PHONE", m_ar),
        ("EMAIL", e),
        lang="ar",
    )
    add(
        f"رقم الهوية الوطنية {n1_ar} ورقم الملف الطبي {mrn.translate(AR)} للمراجع.",
        ("NATIONAL_ID", n1_ar),
        ("MRN", mrn.translate(AR)),
        lang="ar",
    )
    add(f"رقم إقامة المقاول {n2_ar} وتنتهي صلاحيتها بعد ١٢ شهرا.", ("IQAMA", n2_ar), lang="ar")
    add(f"يحول المبلغ إلى الآيبان {ib} خلال ٣٠ يوما.", ("IBAN", ib), lang="ar")
    add(
        f"يقدم النموذج رقم {45 + i} قبل ١٠ أيام، والمبلغ {1500 + i * 10} ريال، "
        "وتاريخ القرار ١٤٤٥/٠٣/١٢.",
        lang="ar",
    )
    add(f"قيمة الفاتورة {broken(nid('2')).translate(AR)} هي رقم مرجعي وليست رقم إقامة.", lang="ar")

# Written by hand, as the documents write them, without looking at the patterns: formats
# other than the generated ones, items in running text and tables, and harder distractors.
uk_iban = "GB82 WEST 1234 5698 7654 32"  # the standard's own example
de_iban = "DE89370400440532013000"
visa = card("4")
amex = card("37", 15)
add(
    "Ring +44 20 7946 0958 or +966 50 123 4567 before 10:30; fax (555) 123-4567.",
    ("PHONE", "+44 20 7946 0958"),
    ("PHONE", "+966 50 123 4567"),
    ("PHONE", "(555) 123-4567"),
)
add(
    "Her mobile is 050 123 4567 and the clinic line is 011 464 0000.",
    ("PHONE", "050 123 4567"),
    ("PHONE", "011 464 0000"),
)
add(f"Wire to {uk_iban} (UK) or {de_iban} (Germany).", ("IBAN", uk_iban), ("IBAN", de_iban))
add(
    f"Card: {visa[:4]}-{visa[4:8]}-{visa[8:12]}-{visa[12:]}, expiry 09/27, CVV withheld.",
    ("CARD", f"{visa[:4]}-{visa[4:8]}-{visa[8:12]}-{visa[12:]}"),
)
add(f"| name | card |\n| A. Smith | {amex} |", ("CARD", amex))
add(
    "Medical record number 00451278 was merged into MRN-00451279 on admission.",
    ("MRN", "00451278"),
    ("MRN", "00451279"),
)
add("The file no. 4451278 belongs to the cardiology clinic.")  # no label: not taken as an MRN
add(
    "Write to j.doe+referrals@health.gov.sa, cc: records@kfsh.med.sa.",
    ("EMAIL", "j.doe+referrals@health.gov.sa"),
    ("EMAIL", "records@kfsh.med.sa"),
)
add("ISO 27001:2022 and NIST SP 800-53 rev. 5 apply; 1 800 000 SAR was approved in 2023.")
add("Coordinates 24.7136, 46.6753; batch 4000 1234 5678 9010 failed QA (not a card).")
add("Ticket INC-2024-001234 was closed on 2024/05/12 at 14:05.")
add(
    "Build 1.0.2310.5 of the app; order 5105105105105100 is a test number that passes Luhn.",
    ("CARD", "5105105105105100"),
)
add(
    "تواصل مع المكتب على +966 11 464 0000 أو عبر info@moh.gov.sa.",
    ("PHONE", "+966 11 464 0000"),
    ("EMAIL", "info@moh.gov.sa"),
    lang="ar",
)
add(
    "جوال المريضة ٠٥٠ ١٢٣ ٤٥٦٧ ورقم الملف الطبي: ٠٠٤٥١٢٧٨.",
    ("PHONE", "٠٥٠ ١٢٣ ٤٥٦٧"),
    ("MRN", "٠٠٤٥١٢٧٨"),
    lang="ar",
)
add(f"رقم الحساب الدولي {spaced(iban_sa())} للمورد.", lang="ar")  # filled in below
rows[-1]["spans"] = [["IBAN", rows[-1]["text"].split("الدولي ")[1].split(" للمورد")[0]]]
add("القرار رقم ٢٠٢٤/١٥٧ بتاريخ ١٤٤٥/١٠/٠٣ والمبلغ ٢٥٠٠٠٠ ريال.", lang="ar")
add("رقم الطلب ١٠٠٠٠٠٠٠٠٠ ليس رقم هوية.", lang="ar")  # ten digits, 1…, but fails the check

out = Path(__file__).with_name("pii.jsonl")
out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
print(f"wrote {len(rows)} texts, {sum(len(r['spans']) for r in rows)} marked items to {out}")
