"""Uploaded files judged by their content, never by their name or the client's claim.

`inspect_file` reads the staged copy of an upload and returns its media type, or refuses it with
a French message: the type from the magic bytes (`filetype`), then structural checks (a PDF that
ends, a zip container that is an office document and nothing else, text that is UTF-8 without
markup). `scan` sends it to ClamAV (clamd INSTREAM) when an address is configured. Display names
are made safe by `display_name`.
"""

from __future__ import annotations

import codecs
import re
import stat
import unicodedata
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import filetype
from clamav_client.clamd import ClamdError, ClamdNetworkSocket, ClamdUnixSocket

from labelflow.errors import AntivirusUnavailable, FileInfected, Invalid, UnsupportedMediaType

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv"
TEXT = "text/plain"
# Every type this module can vouch for; `Settings.allowed_media_types` may narrow it.
SAFE_TYPES = (PDF, PNG, JPEG, TIFF, ODT, ODS, DOCX, XLSX, CSV, TEXT)

# Zip containers (ODF, OOXML): beyond these limits an office document is refused.
ZIP_MAX_ENTRIES = 1000
ZIP_MAX_UNCOMPRESSED = 100 * 1024 * 1024
ZIP_MAX_RATIO = 100
# The main part of each OOXML document accepted, by its content type in [Content_Types].xml.
OOXML_MAIN_PARTS = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": DOCX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": XLSX,
}
ODF_TYPES = {ODT, ODS}
# A PDF ends with `%%EOF`, possibly followed by a few bytes of whitespace or padding.
PDF_TAIL = 1024
CHUNK = 64 * 1024

NOT_ALLOWED = (
    "Ce type de fichier n'est pas accepté : déposez un PDF, une image PNG, JPEG ou TIFF, un "
    "document ou un tableur (OpenDocument, Word, Excel), un fichier CSV ou un texte."
)
MARKUP = (
    "Ce fichier contient du balisage (page web, image SVG, XML ou script) : ce type de fichier "
    "n'est pas accepté. Enregistrez-le en PDF avant de le déposer."
)
TRUNCATED_PDF = (
    "Ce PDF est incomplet ou endommagé (sa fin manque) : enregistrez-le de nouveau puis déposez-le."
)
EMPTY = "Le fichier est vide."
INFECTED = (
    "L'antivirus a détecté une menace dans ce fichier ({threat}) : il n'a pas été enregistré."
)
ANTIVIRUS_DOWN = (
    "L'antivirus ne répond pas : la pièce n'a pas été enregistrée. Réessayez dans quelques minutes."
)
# A tag, a comment, a processing instruction or a doctype: `<a`, `</a`, `<!`, `<?`.
_MARKUP = re.compile(rb"<[A-Za-z!?/]")
# Control characters (category Cc) other than tab, line feed, carriage return and form feed.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
# Characters a name must not carry: separators and what could reorder or hide its display.
_BIDI = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"}
_BIDI |= {"\u200e", "\u200f", "\u061c"}
MAX_NAME = 255


def _refuse(message: str = NOT_ALLOWED) -> UnsupportedMediaType:
    return UnsupportedMediaType(message)


def inspect_file(path: Path, *, size: int) -> str:
    """The media type of the file at `path`, read from its content; refuses what is not safe."""
    if size == 0:
        raise Invalid(EMPTY, field="file")
    with path.open("rb") as f:
        head = f.read(8192)
    if head.startswith(b"%PDF-"):
        return _pdf(path, size)
    if head.startswith(b"PK\x03\x04"):
        return _zip(path, size)
    kind = filetype.guess(head)
    if kind is not None:
        mime = kind.mime
        if mime == PNG and head[12:16] == b"IHDR":
            return PNG
        if mime == JPEG:
            return JPEG
        if mime == TIFF:
            return TIFF
        raise _refuse()
    return _text(path)


def _pdf(path: Path, size: int) -> str:
    with path.open("rb") as f:
        f.seek(max(0, size - PDF_TAIL))
        tail = f.read()
    if b"%%EOF" not in tail:
        raise _refuse(TRUNCATED_PDF)
    return PDF


def _zip_refusal(reason: str) -> UnsupportedMediaType:
    return _refuse(
        f"Ce document bureautique est refusé : {reason}. Enregistrez-le de nouveau, ou en PDF, "
        "puis déposez-le."
    )


def _unsafe_name(name: str) -> bool:
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return True
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return ".." in parts or any(c == "\x00" for c in name)


def _zip(path: Path, size: int) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > ZIP_MAX_ENTRIES:
                raise _zip_refusal(
                    f"il contient plus de {ZIP_MAX_ENTRIES:,} fichiers internes".replace(",", " ")
                )
            declared = sum(info.file_size for info in infos)
            if declared > ZIP_MAX_UNCOMPRESSED or declared > ZIP_MAX_RATIO * size:
                raise _zip_refusal("il se décompresse en un volume anormalement grand")
            for info in infos:
                if _unsafe_name(info.filename):
                    raise _zip_refusal("il contient un chemin interne dangereux")
                mode = info.external_attr >> 16
                if info.create_system == 3 and stat.S_ISLNK(mode):
                    raise _zip_refusal("il contient un lien symbolique")
                if info.flag_bits & 0x1:
                    raise _zip_refusal("il est chiffré")
                if info.filename.lower().endswith("vbaproject.bin"):
                    raise _zip_refusal("il contient des macros")
            # The sizes above are the archive's own claims: inflate every entry to check them.
            inflated = 0
            for info in infos:
                with archive.open(info) as entry:
                    while chunk := entry.read(CHUNK):
                        inflated += len(chunk)
                        if inflated > ZIP_MAX_UNCOMPRESSED or inflated > ZIP_MAX_RATIO * size:
                            raise _zip_refusal("il se décompresse en un volume anormalement grand")
            return _office_type(archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise _zip_refusal("l'archive est endommagée ou d'un format inconnu") from exc


def _office_type(archive: zipfile.ZipFile) -> str:
    names = set(archive.namelist())
    if "mimetype" in names:
        declared = archive.read("mimetype").decode("ascii", "replace").strip()
        if declared in ODF_TYPES and "content.xml" in names:
            return declared
        raise _refuse()
    if "[Content_Types].xml" in names:
        content_types = archive.read("[Content_Types].xml").decode("utf-8", "replace")
        found = {mime for part, mime in OOXML_MAIN_PARTS.items() if f'"{part}"' in content_types}
        if len(found) == 1:
            return found.pop()
    raise _refuse()


def _text(path: Path) -> str:
    """Plain text or CSV: valid UTF-8, no control character, no markup, no script header."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    previous = b""
    first_lines = b""
    with path.open("rb") as f:
        first = True
        while chunk := f.read(CHUNK):
            if first:
                if chunk.startswith(codecs.BOM_UTF8):
                    chunk = chunk[len(codecs.BOM_UTF8) :]
                if chunk.lstrip().startswith(b"#!"):
                    raise _refuse(MARKUP)
                first = False
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise _refuse() from exc
            if _has_control(text):
                raise _refuse()
            # A tag cut between two chunks: look at the seam too.
            if _MARKUP.search(previous[-1:] + chunk):
                raise _refuse(MARKUP)
            previous = chunk
            if len(first_lines) < 8192:
                first_lines += chunk[: 8192 - len(first_lines)]
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise _refuse() from exc
    return CSV if _looks_like_csv(first_lines) else TEXT


def _has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def _looks_like_csv(sample: bytes) -> bool:
    """At least two lines, each with the same non-zero number of one separator."""
    lines = [line for line in sample.decode("utf-8", "ignore").splitlines() if line.strip()][:6]
    if len(lines) >= 6:
        lines = lines[:5]  # the sixth may be cut by the sample's end
    if len(lines) < 2:
        return False
    for separator in (";", ",", "\t"):
        counts = {line.count(separator) for line in lines}
        if len(counts) == 1 and counts.pop() > 0:
            return True
    return False


def allowed(media_type: str, allowed_types: Iterable[str]) -> None:
    """The configured list may narrow the safe types, never widen them."""
    if media_type not in SAFE_TYPES or media_type not in set(allowed_types):
        raise _refuse()


def scan(path: Path, *, address: str, timeout: float = 60.0) -> None:
    """Send the file to clamd (INSTREAM); refuses it when a threat is found."""
    client: ClamdNetworkSocket
    if address.startswith(("/", "unix://")):
        client = ClamdUnixSocket(address, timeout=int(timeout))
    else:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise AntivirusUnavailable(ANTIVIRUS_DOWN)
        client = ClamdNetworkSocket(host.strip("[]"), int(port), timeout=timeout)
    try:
        with path.open("rb") as f:
            results = client.instream(f)
    except (ClamdError, OSError) as exc:
        raise AntivirusUnavailable(ANTIVIRUS_DOWN) from exc
    if not results:
        raise AntivirusUnavailable(ANTIVIRUS_DOWN)
    status, threat = next(iter(results.values()))
    if status == "FOUND":
        raise FileInfected(INFECTED.format(threat=threat or "menace inconnue"), field="file")
    if status != "OK":
        raise AntivirusUnavailable(ANTIVIRUS_DOWN)


def display_name(name: str | None) -> str:
    """The name shown and sent back: no folder, separator, control or bidi character, ≤ 255."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        c for c in name if unicodedata.category(c)[0] != "C" and c not in _BIDI and c not in "/\\"
    )
    name = " ".join(name.split()).strip(" .") or "document"
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: MAX_NAME - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:MAX_NAME].rstrip(" .")
    return name
