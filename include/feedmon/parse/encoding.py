"""Settle a feed body's text encoding ourselves, because feeds in the wild lie about it.

1. a byte-order mark wins (it cannot be there by accident);
2. then the declared charsets, HTTP ``Content-Type`` first, then the XML declaration (RFC 7303) --
   but a body that is valid UTF-8 with non-ASCII bytes is UTF-8 even when it claims a single-byte
   charset (the classic ``ISO-8859-1`` server default on a UTF-8 document);
3. a declaration that does not decode the bytes is ignored, and charset-normalizer detects the
   encoding instead, so a Windows-1251 feed that says ``utf-8`` still reads as Cyrillic.

:func:`as_utf8_document` then re-encodes the text as UTF-8 with a matching declaration, so the
parser has nothing left to guess.
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer

__all__ = ["as_utf8_document", "decode_body"]

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_XML_DECL_TEXT = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])([A-Za-z0-9._:-]+)(["'])""")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.I)


def _codec(name: str | None) -> str | None:
    """Canonical codec name, or None for unknown labels."""
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def _single_byte(codec: str) -> bool:
    """True for legacy 8-bit codecs (any byte sequence decodes, so they 'succeed' on UTF-8 too)."""
    return codec.startswith(("cp", "iso8859", "latin", "koi8", "mac-", "windows-", "tis-620", "ascii")) and (
        codec not in ("cp932", "cp949", "cp950", "cp936")
    )


def _decodes(body: bytes, codec: str) -> str | None:
    """Strict decode that tolerates only an incomplete character at the very end (a truncated body)."""
    dec = codecs.getincrementaldecoder(codec)(errors="strict")
    try:
        text = dec.decode(body, final=False)
    except UnicodeDecodeError:
        return None
    pending = dec.getstate()[0]
    if pending and len(pending) > 4:
        return None
    return text


def decode_body(body: bytes, content_type: str | None = None) -> tuple[str, str, list[str]]:
    """Text of a feed body, the codec used and notes on any declaration that was overruled."""
    notes: list[str] = []
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body.decode(codec, errors="replace").lstrip("\ufeff"), codec.removesuffix("-sig"), notes
    # UTF-16 without a BOM still starts with "<" and a NUL.
    if body.startswith(b"<\x00") and len(body) > 3 and body[3] == 0:
        return body.decode("utf-16-le", errors="replace"), "utf-16-le", notes
    if body.startswith(b"\x00<"):
        return body.decode("utf-16-be", errors="replace"), "utf-16-be", notes

    http = None
    if content_type:
        m = _CHARSET.search(content_type)
        http = _codec(m.group(1)) if m else None
    decl = _XML_DECL.match(body[:512])
    xml = _codec(decl.group(1).decode("ascii")) if decl else None
    declared = [c for i, c in enumerate((http, xml)) if c and c not in (http, xml)[:i]]

    if body.isascii():
        codec = declared[0] if declared and not declared[0].startswith("utf-16") else "utf-8"
        return body.decode("ascii"), codec, notes

    utf8 = _decodes(body, "utf-8")
    for codec in declared:
        if codec.startswith(("utf-16", "utf-32")):
            continue  # without a BOM these labels are nearly always wrong on an ASCII-looking body
        if utf8 is not None and codec != "utf-8" and _single_byte(codec):
            notes.append(f"declared {codec} but the body is valid UTF-8; read as UTF-8")
            return utf8, "utf-8", notes
        text = utf8 if codec == "utf-8" else _decodes(body, codec)
        if text is not None:
            return text, codec, notes
        notes.append(f"declared {codec} does not decode the body")
    if utf8 is not None:
        return utf8, "utf-8", notes
    best = charset_normalizer.from_bytes(body).best()
    if best is not None and best.encoding:
        notes.append(f"encoding detected as {best.encoding}")
        return str(best), best.encoding, notes
    notes.append("undecodable bytes replaced")
    return body.decode("utf-8", errors="replace"), "utf-8", notes


def as_utf8_document(text: str) -> bytes:
    """UTF-8 bytes whose XML declaration (if any) says UTF-8, so feedparser does not re-guess."""
    text = text.lstrip("\ufeff")
    text = _XML_DECL_TEXT.sub(r"\g<1>utf-8\g<3>", text, count=1)
    return text.encode("utf-8", errors="replace")
