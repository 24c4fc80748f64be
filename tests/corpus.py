"""Files made by the tests, good and hostile (never committed as binaries)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from tests.factories import PDF

MIB = 1024 * 1024

DOCX_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/{part}" ContentType="{main}"/>'
    "</Types>"
)
WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
SHEET_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships '
    'xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="{part}"/></Relationships>'
)


def _zip(entries: list[tuple[str, bytes]], *, stored_first: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, (name, data) in enumerate(entries):
            method = zipfile.ZIP_STORED if stored_first and index == 0 else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=method)
    return out.getvalue()


def _ooxml(part: str, main: str, body: bytes, extra: list[tuple[str, bytes]]) -> bytes:
    return _zip(
        [
            ("[Content_Types].xml", DOCX_TYPES.format(part=part, main=main).encode()),
            ("_rels/.rels", RELS.format(part=part).encode()),
            (part, body),
            *extra,
        ]
    )


def docx(extra: list[tuple[str, bytes]] | None = None) -> bytes:
    body = (
        b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
        b'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Statuts</w:t></w:r></w:p>'
        b"</w:body></w:document>"
    )
    return _ooxml("word/document.xml", WORD_MAIN, body, extra or [])


def xlsx() -> bytes:
    body = (
        b'<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/'
        b'spreadsheetml/2006/main"><sheets/></workbook>'
    )
    return _ooxml("xl/workbook.xml", SHEET_MAIN, body, [])


def odt() -> bytes:
    return _zip(
        [
            ("mimetype", b"application/vnd.oasis.opendocument.text"),
            (
                "content.xml",
                b'<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:'
                b'tc:opendocument:xmlns:office:1.0"/>',
            ),
            ("META-INF/manifest.xml", b'<?xml version="1.0"?><manifest/>'),
        ],
        stored_first=True,
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png() -> bytes:
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", pixels)
        + _chunk(b"IEND", b"")
    )


def _pillow(fmt: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (2, 2), (200, 30, 30)).save(out, format=fmt)
    return out.getvalue()


def jpeg() -> bytes:
    return _pillow("JPEG")


def tiff() -> bytes:
    return _pillow("TIFF")


def real_pdf(pages: int = 1) -> bytes:
    """A PDF with its cross-reference table, long enough to be cut in two."""
    body = b"BT /F1 12 Tf 72 720 Td (Note de cadrage) Tj ET\n" * 40
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(body) + body + b"endstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


CSV = "nom;commune;habitants\nRégie A;Roubaix;12\nRégie B;Lille;8\n".encode()
TEXT = "Compte rendu : réunion du groupe projet.\nPrésents : 12 habitants.\n".encode()

# What each good file must be stored as.
GOOD = {
    "piece.pdf": (PDF, "application/pdf"),
    "vraie.pdf": (real_pdf(), "application/pdf"),
    "photo.png": (png(), "image/png"),
    "photo.jpg": (jpeg(), "image/jpeg"),
    "scan.tiff": (tiff(), "image/tiff"),
    "statuts.odt": (odt(), "application/vnd.oasis.opendocument.text"),
    "statuts.docx": (
        docx(),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    "budget.xlsx": (
        xlsx(),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    "membres.csv": (CSV, "text/csv"),
    "note.txt": (TEXT, "text/plain"),
}


def zip_bomb() -> bytes:
    """A .docx whose one part inflates to 200 MB of zeros (about 200 kB on the wire)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(
            "[Content_Types].xml", DOCX_TYPES.format(part="word/document.xml", main=WORD_MAIN)
        )
        with archive.open("word/document.xml", "w", force_zip64=True) as entry:
            zeros = bytes(MIB)
            for _ in range(200):
                entry.write(zeros)
    return out.getvalue()


def zip_slip() -> bytes:
    return docx(extra=[("../../evil.txt", b"owned")])


def zip_many(entries: int = 20_000) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(
            "[Content_Types].xml", DOCX_TYPES.format(part="word/document.xml", main=WORD_MAIN)
        )
        for index in range(entries):
            archive.writestr(f"{index:x}", b"")
    return out.getvalue()


def zip_symlink() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            "[Content_Types].xml", DOCX_TYPES.format(part="word/document.xml", main=WORD_MAIN)
        )
        link = zipfile.ZipInfo("word/document.xml")
        link.create_system = 3
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    return out.getvalue()


HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
    b"<circle r='4'/></svg>"
)
XML = b'<?xml version="1.0"?><note><a>texte</a></note>'
SCRIPT = b"#!/bin/sh\nrm -rf ~\n"
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00" + bytes(200)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64


def truncated_pdf() -> bytes:
    whole = real_pdf()
    return whole[: len(whole) // 2]
