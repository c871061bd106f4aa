"""Minimal PNG writing and text drawing for the demo, with no dependency beyond numpy.

``write_png`` stores 8-bit grey, RGB or RGBA images (filter 0 on every row, zlib
compression). ``draw_text`` renders ASCII with a built-in 5x7 bitmap font (the classic
HD44780 LCD glyphs; lower case is drawn as upper case).
"""
from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

import numpy as np

__all__ = ["draw_text", "encode_png", "text_size", "write_png"]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def encode_png(image: np.ndarray, level: int = 6) -> bytes:
    """The bytes of a PNG file holding ``image``.

    Parameters
    ----------
    image : ndarray, uint8, shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
        Grey, RGB or RGBA.
    level : int
        zlib compression level, 0..9.

    Returns
    -------
    bytes
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"image must have dtype uint8, got {image.dtype}")
    if image.ndim == 2:
        image = image[..., np.newaxis]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or 0 in image.shape[:2]:
        raise ValueError(f"image must have shape (H, W[, 1|3|4]) with H, W > 0, "
                         f"got {image.shape}")
    h, w, c = image.shape
    color_type = {1: 0, 3: 2, 4: 6}[c]
    # Every row starts with its filter byte (0: none).
    rows = np.zeros((h, 1 + w * c), np.uint8)
    rows[:, 1:] = image.reshape(h, w * c)
    header = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), level)) + _chunk(b"IEND", b""))


def write_png(file, image: np.ndarray) -> None:
    """Write ``image`` as a PNG file.

    Parameters
    ----------
    file : str, path or binary file object
    image : ndarray, uint8, shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
    """
    data = encode_png(image)
    if hasattr(file, "write"):
        f: BinaryIO = file
        f.write(data)
    else:
        with open(file, "wb") as f:
            f.write(data)


# ---- text ---------------------------------------------------------------------------

# 5x7 glyphs, one string of 7 rows of 5 bits per character.
_GLYPHS = {
    "A": "01110 10001 10001 11111 10001 10001 10001",
    "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110",
    "D": "11100 10010 10001 10001 10001 10010 11100",
    "E": "11111 10000 10000 11110 10000 10000 11111",
    "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111",
    "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110",
    "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001",
    "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001",
    "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110",
    "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101",
    "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110",
    "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110",
    "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010",
    "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 10001 01010 00100 00100 00100",
    "Z": "11111 00001 00010 00100 01000 10000 11111",
    "0": "01110 10001 10011 10101 11001 10001 01110",
    "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111",
    "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010",
    "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110",
    "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110",
    "9": "01110 10001 10001 01111 00001 00010 01100",
    " ": "00000 00000 00000 00000 00000 00000 00000",
    ".": "00000 00000 00000 00000 00000 01100 01100",
    ",": "00000 00000 00000 00000 01100 00100 01000",
    "-": "00000 00000 00000 11111 00000 00000 00000",
    "+": "00000 00100 00100 11111 00100 00100 00000",
    "/": "00000 00001 00010 00100 01000 10000 00000",
    ":": "00000 01100 01100 00000 01100 01100 00000",
    "(": "00010 00100 01000 01000 01000 00100 00010",
    ")": "01000 00100 00010 00010 00010 00100 01000",
    "=": "00000 00000 11111 00000 11111 00000 00000",
    "%": "11000 11001 00010 00100 01000 10011 00011",
    "_": "00000 00000 00000 00000 00000 00000 11111",
    "'": "01100 00100 01000 00000 00000 00000 00000",
    "#": "01010 01010 11111 01010 11111 01010 01010",
    "?": "01110 10001 00001 00010 00100 00000 00100",
}
_FONT = {ch: np.array([[bit == "1" for bit in row] for row in rows.split()])
         for ch, rows in _GLYPHS.items()}
GLYPH_W, GLYPH_H = 5, 7


def text_size(text: str, scale: int = 1) -> tuple[int, int]:
    """``(height, width)`` in pixels of ``text`` drawn at ``scale`` (1 px between glyphs)."""
    if not text:
        return GLYPH_H * scale, 0
    return GLYPH_H * scale, (len(text) * (GLYPH_W + 1) - 1) * scale


def draw_text(image: np.ndarray, text: str, top: int, left: int, color=(0, 0, 0),
              scale: int = 1) -> None:
    """Draw ``text`` into ``image`` in place; parts outside the image are clipped.

    Parameters
    ----------
    image : ndarray, uint8, shape (H, W, C)
    text : str
        ASCII; lower case is drawn as upper case, unknown characters as "?".
    top, left : int
        Position of the text's top-left corner.
    color : int or sequence of int
        One value per channel.
    scale : int
        Integer magnification of the 5x7 glyphs.
    """
    h, w = image.shape[:2]
    for k, ch in enumerate(text.upper()):
        glyph = _FONT.get(ch, _FONT["?"])
        if scale > 1:
            glyph = np.kron(glyph, np.ones((scale, scale), bool))
        y0, x0 = top, left + k * (GLYPH_W + 1) * scale
        y1, x1 = y0 + glyph.shape[0], x0 + glyph.shape[1]
        cy0, cx0, cy1, cx1 = max(y0, 0), max(x0, 0), min(y1, h), min(x1, w)
        if cy0 >= cy1 or cx0 >= cx1:
            continue
        mask = glyph[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        image[cy0:cy1, cx0:cx1][mask] = color
