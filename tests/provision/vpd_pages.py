"""VPD pages as disks return them, built byte by byte for the naming tests."""

from __future__ import annotations


def ata_string(text: str, words: int) -> bytes:
    """An IDENTIFY string: padded with spaces, two characters per little-endian word."""
    raw = text.ljust(words * 2).encode()
    return bytes(b for i in range(0, len(raw), 2) for b in (raw[i + 1], raw[i]))


def pg89(model: str, serial: str, wwn: int | None = None) -> bytes:
    """The ATA Information VPD page: 60 bytes of SAT header, then IDENTIFY DEVICE data."""
    identify = bytearray(512)
    identify[20:40] = ata_string(serial, 10)
    identify[54:94] = ata_string(model, 20)
    if wwn is not None:
        for n in range(4):
            word = (wwn >> (48 - 16 * n)) & 0xFFFF
            identify[216 + 2 * n : 218 + 2 * n] = word.to_bytes(2, "little")
    header = bytes([0, 0x89, 0x02, 0x38]) + bytes(4) + b"linux   " + b"libata".ljust(16) + b"1.0 "
    return header.ljust(60, b"\0") + bytes(identify)


def designator(code_set: int, kind: int, ident: bytes, association: int = 0) -> bytes:
    return bytes([code_set, (association << 4) | kind, 0, len(ident)]) + ident


def pg83(*designators: bytes) -> bytes:
    body = b"".join(designators)
    return bytes([0, 0x83]) + len(body).to_bytes(2, "big") + body


def pg80(serial: str) -> bytes:
    return bytes([0, 0x80, 0, len(serial)]) + serial.encode()
