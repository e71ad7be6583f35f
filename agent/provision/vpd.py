"""Disk identities from the bytes the kernel exposes, and udev's rules for names. Pure.

- ATA: the IDENTIFY DEVICE data inside VPD page 0x89 (sysfs `vpd_pg89`), read as udev's
  `ata_id` reads IDENTIFY: model and serial are byte-swapped words, the WWN is words 108-111.
- SCSI: VPD page 0x83 (device identification), descriptors chosen in `scsi_id`'s order of
  preference (NAA first), else page 0x80 (unit serial number) with vendor and model.
- udev's string rules: runs of whitespace become one `_`, unsafe characters become `_` in
  link names, and `\\xNN` in encoded labels (ID_FS_LABEL_ENC).
"""

from __future__ import annotations

from dataclasses import dataclass

SAFE = "#+-.:=@_"  # besides letters and digits, what udev keeps in a name

PG89_IDENTIFY = 60  # IDENTIFY DEVICE data starts here in the ATA Information VPD page
IDENTIFY_SIZE = 512
ATA_SERIAL = (10, 10)  # first word, words
ATA_MODEL = (27, 20)
ATA_WWN_WORD = 108
ATA_WWN_NAA_IEEE = 0x5000  # word 108, bits 15:12

# scsi_id's descriptor types, code sets, NAA kinds, and its order of preference.
ID_VENDOR_SPECIFIC, ID_T10_VENDOR, ID_EUI_64, ID_NAA = 0, 1, 2, 3
BINARY, ASCII = 1, 2
NAA_IEEE_REG, NAA_IEEE_REG_EXTENDED = 5, 6
VENDOR_LENGTH, MODEL_LENGTH = 8, 16
PREFERENCE: tuple[tuple[int, int | None, int], ...] = (
    (ID_NAA, NAA_IEEE_REG_EXTENDED, BINARY),
    (ID_NAA, NAA_IEEE_REG_EXTENDED, ASCII),
    (ID_NAA, NAA_IEEE_REG, BINARY),
    (ID_NAA, NAA_IEEE_REG, ASCII),
    (ID_NAA, None, BINARY),
    (ID_NAA, None, ASCII),
    (ID_EUI_64, None, BINARY),
    (ID_EUI_64, None, ASCII),
    (ID_T10_VENDOR, None, BINARY),
    (ID_T10_VENDOR, None, ASCII),
    (ID_VENDOR_SPECIFIC, None, BINARY),
    (ID_VENDOR_SPECIFIC, None, ASCII),
)


@dataclass(frozen=True)
class Identity:
    serial: str  # ID_SERIAL, what by-id names carry after the bus
    serial_short: str | None = None  # ID_SERIAL_SHORT: the device's own serial number
    model: str | None = None  # readable: single spaces, as lsblk shows it
    wwn: str | None = None  # ID_WWN_WITH_EXTENSION, "0x…"


def collapse_whitespace(text: str) -> str:
    """udev's replace_whitespace: trimmed, each run of whitespace one `_`."""
    return "_".join(text.split())


def safe_name(text: str, keep: str = "") -> str:
    """udev's replace_chars: anything but letters, digits, SAFE, `keep` and non-ASCII → `_`.
    A `/` never survives: a name must not reach outside its directory."""
    return "".join(
        c if (c.isascii() and c.isalnum()) or c in SAFE or (c in keep and c != "/") or ord(c) > 127
        else "_"
        for c in text
    )  # fmt: skip


def encoded(text: str) -> str:
    """blkid's encoding for ID_FS_LABEL_ENC / ID_FS_UUID_ENC: unsafe bytes as `\\xNN`."""
    out = []
    for char in text:
        if (char.isascii() and char.isalnum()) or char in SAFE or ord(char) > 127:
            out.append(char)
        else:
            out.extend(f"\\x{byte:02x}" for byte in char.encode())
    return "".join(out)


def _ata_string(identify: bytes, word: int, words: int) -> str:
    raw = identify[word * 2 : (word + words) * 2]
    swapped = bytes(b for i in range(0, len(raw) - 1, 2) for b in (raw[i + 1], raw[i]))
    return swapped.decode("ascii", "replace").replace("\0", " ")


def ata_identity(pg89: bytes) -> Identity | None:
    """ID_SERIAL (MODEL_SERIAL), the serial, the model and the WWN of an ATA disk."""
    identify = pg89[PG89_IDENTIFY : PG89_IDENTIFY + IDENTIFY_SIZE]
    if len(identify) < IDENTIFY_SIZE:
        return None
    readable = " ".join(_ata_string(identify, *ATA_MODEL).split())
    model = safe_name(collapse_whitespace(readable))
    serial = safe_name(collapse_whitespace(_ata_string(identify, *ATA_SERIAL)))
    if not model:
        return None
    words = [int.from_bytes(identify[w * 2 : w * 2 + 2], "little") for w in range(108, 112)]
    wwn = None
    if (words[0] & 0xF000) == ATA_WWN_NAA_IEEE:
        wwn = f"0x{(words[0] << 48) | (words[1] << 32) | (words[2] << 16) | words[3]:x}"
    return Identity(f"{model}_{serial}" if serial else model, serial or None, readable, wwn)


def scsi_identity(
    pg83: bytes | None, pg80: bytes | None, vendor: str, model: str
) -> Identity | None:
    """What `scsi_id --whitelisted` exports for a disk, from its VPD pages 0x83 and 0x80.
    `vendor` and `model` are the INQUIRY fields as sysfs shows them (8 and 16 characters)."""
    found = _from_pg83(pg83, vendor, model) if pg83 else None
    if found is None and pg80 and len(pg80) >= 4:
        serial = pg80[4 : 4 + pg80[3]].decode("ascii", "replace")
        if len(vendor) == VENDOR_LENGTH and len(model) == MODEL_LENGTH:
            found = ("S" + vendor + model + serial, serial, None)
    if found is None:
        return None
    serial, short, wwn = found
    return Identity(safe_name(collapse_whitespace(serial)), short.strip() or None,
                    " ".join(model.split()) or None, wwn)  # fmt: skip


def _from_pg83(page: bytes, vendor: str, model: str) -> tuple[str, str, str | None] | None:
    if len(page) < 8 or page[1] != 0x83:
        return None
    if page[6] != 0:  # a pre-SPC-3 reply: a bare binary WWN after the header
        hexed = page[4 : 4 + page[3]].hex()
        return ("3" + hexed, hexed, None)
    end = min(len(page), 4 + ((page[2] << 8) | page[3]))
    descriptors = []
    at = 4
    while at + 4 <= end:
        descriptors.append(page[at : at + 4 + page[at + 3]])
        at += 4 + page[at + 3]
    for id_type, naa, code_set in PREFERENCE:
        for d in descriptors:
            if (d[1] & 0x30) != 0 or (d[1] & 0x0F) != id_type or (d[0] & 0x0F) != code_set:
                continue  # not about the device itself, or not the kind looked for
            if naa is not None and (len(d) < 5 or (d[4] >> 4) != naa):
                continue
            ident = d[4:]
            short = ident.decode("ascii", "replace") if code_set == ASCII else ident.hex()
            prefix = "0123456789abcdef"[id_type]
            if id_type == ID_VENDOR_SPECIFIC:
                if len(vendor) != VENDOR_LENGTH or len(model) != MODEL_LENGTH:
                    continue
                prefix += vendor + model
            wwn = None
            if id_type == ID_NAA:
                wwn = "0x" + short[:16] + short[16:32]
            return (prefix + short, short, wwn)
    return None
