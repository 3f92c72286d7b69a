"""Names and counts as a person reads them: the one place that decides how a file name
is shown on a terminal, compared with another name, or counted in a sentence.

- `printable`: file names come from strangers; a name holding ESC sequences could
  rewrite the terminal (hide lines, fake a prompt). Control characters, and the bidi
  overrides that reverse what follows, are shown escaped (`\\x1b`, `\\u202e`).
- `nfc`: macOS writes "Renée" decomposed (e + U+0301); a person types it composed.
  Names are compared after NFC normalisation so both spellings are one name.
- `plural`, `shorten_middle`: one spelling for counts and cut captions.
"""

from __future__ import annotations

import unicodedata

# Bidi controls that reorder the text after them (Trojan-source style).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _escape(ch: str) -> str:
    o = ord(ch)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def printable(text: object) -> str:
    """`text` with control characters (C0, DEL, C1, line breaks) and bidi overrides
    escaped, so it prints as one inert line."""
    s = str(text)
    if s.isprintable() and not (_BIDI & set(s)):
        return s
    return "".join(
        _escape(ch) if (not ch.isprintable() and ch != " ") or ch in _BIDI else ch for ch in s
    )


def nfc(name: str) -> str:
    """The NFC form of `name`, with Windows separators as POSIX ones."""
    return unicodedata.normalize("NFC", name).replace("\\", "/")


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """`1 image`, `2 images`, `0 images` (`nouns` for irregular plurals)."""
    return f"{n} {noun if n == 1 else (nouns or noun + 's')}"


def shorten_middle(name: str, width: int, ellipsis: str = "…") -> str:
    """`name` cut to `width` characters by dropping its middle, keeping the start and
    the extension: 'a_very_long_photo_name.jpeg' -> 'a_very…name.jpeg'."""
    if len(name) <= width:
        return name
    if width <= len(ellipsis) + 1:
        return name[:width]
    dot = name.rfind(".")
    ext = name[dot:] if 0 < dot and len(name) - dot <= max(1, width // 2) else ""
    stem = name[: len(name) - len(ext)]
    room = width - len(ext) - len(ellipsis)
    head = (room + 1) // 2
    tail = room - head
    return stem[:head] + ellipsis + (stem[len(stem) - tail :] if tail else "") + ext
