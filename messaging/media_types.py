"""What a file is, from its first bytes: the content type we store and serve, and the file
extension its name and URL end with (the provider requires the right extension on media
URLs). Neither the uploader's file name nor a declared header decides either.
"""

from __future__ import annotations

OCTET_STREAM = "application/octet-stream"
VCARD = "text/vcard"
# Enough of the head of a file to recognise every type below.
SNIFF_BYTES = 64

EXTENSIONS: dict[str, str] = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "image/heif": ".heif",
    "image/avif": ".avif",
    "image/tiff": ".tiff",
    "image/bmp": ".bmp",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/3gpp": ".3gp",
    "audio/mp4": ".m4a",
    "audio/mpeg": ".mp3",
    "audio/aac": ".aac",
    "audio/wav": ".wav",
    "audio/ogg": ".ogg",
    "audio/amr": ".amr",
    "audio/x-caf": ".caf",
    "application/pdf": ".pdf",
    VCARD: ".vcf",
    OCTET_STREAM: ".bin",
}

# What inbound media may be: images, video, audio, PDF and contact cards (`sniff` only
# names types that are safe to hand on; SVG and HTML are never among them).
INBOUND_ALLOWED = frozenset(t for t in EXTENSIONS if t != OCTET_STREAM)

# ISO base media (`ftyp` box) brands and what they hold.
_FTYP_BRANDS: dict[bytes, str] = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"hevc": "image/heic",
    b"heim": "image/heic",
    b"heis": "image/heic",
    b"mif1": "image/heif",
    b"msf1": "image/heif",
    b"avif": "image/avif",
    b"qt  ": "video/quicktime",
    b"M4A ": "audio/mp4",
    b"M4B ": "audio/mp4",
    b"3gp4": "video/3gpp",
    b"3gp5": "video/3gpp",
    b"3gp6": "video/3gpp",
    b"3g2a": "video/3gpp",
}


def _ftyp(head: bytes) -> str | None:
    if head[4:8] != b"ftyp":
        return None
    return _FTYP_BRANDS.get(head[8:12], "video/mp4")


def _riff(head: bytes) -> str | None:
    if head[:4] != b"RIFF":
        return None
    return {b"WEBP": "image/webp", b"WAVE": "audio/wav"}.get(head[8:12])


def _mpeg_audio(head: bytes) -> str | None:
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE6 == 0xE2):
        return "audio/mpeg"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "audio/aac"
    return None


def _bmp(head: bytes) -> str | None:
    # "BM", the file size, then four reserved zero bytes: "BM" alone is too common in text.
    return "image/bmp" if head[:2] == b"BM" and head[6:10] == b"\x00" * 4 else None


def _vcard(head: bytes) -> str | None:
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    return VCARD if text[:11].upper() == b"BEGIN:VCARD" else None


_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"%PDF-", "application/pdf"),
    (b"OggS", "audio/ogg"),
    (b"#!AMR", "audio/amr"),
    (b"caff", "audio/x-caf"),
)


def sniff(head: bytes) -> str:
    """The content type of a file starting with `head`; `application/octet-stream` when it
    is none we know."""
    for prefix, content_type in _PREFIXES:
        if head.startswith(prefix):
            return content_type
    for detect in (_ftyp, _riff, _bmp, _vcard, _mpeg_audio):
        found = detect(head)
        if found:
            return found
    return OCTET_STREAM


def extension_for(content_type: str) -> str:
    """The file extension (with its dot) for a content type `sniff` returns."""
    return EXTENSIONS.get(content_type, EXTENSIONS[OCTET_STREAM])
