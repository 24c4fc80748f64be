"""Small valid PDF documents for the demo's uploads, and the file names they get."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence


def _pdf_text(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return escaped.encode("cp1252", errors="replace")


def make_pdf(title: str, lines: Sequence[str] = ()) -> bytes:
    """A valid one-page PDF showing `title` and a few lines (WinAnsi text, Helvetica)."""
    content = io.BytesIO()
    content.write(b"BT /F1 16 Tf 60 780 Td (" + _pdf_text(title) + b") Tj ET\n")
    for i, line in enumerate(lines):
        content.write(b"BT /F1 11 Tf 60 %d Td (" % (740 - 18 * i) + _pdf_text(line) + b") Tj ET\n")
    stream = content.getvalue()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def slug(text: str) -> str:
    """`Note de cadrage – Épeule` → `note-de-cadrage-epeule`."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "-".join("".join(c if c.isalnum() else " " for c in folded.lower()).split())
