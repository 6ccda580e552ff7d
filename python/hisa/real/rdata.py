"""Just enough of R's serialization format to read character vectors out of an R package's lazy-load
data base (``data/Rdata.rdb`` + ``data/Rdata.rdx``), e.g. janeaustenr's six novels.

Layout (R's ``makeLazyLoadDB``):
  * ``Rdata.rdx``: one serialized R object (gzip file, or a 4-byte big-endian length followed by a
    zlib stream): a named list ``variables`` (name -> integer c(offset, length) into the .rdb),
    ``references``, ``compressed``.
  * ``Rdata.rdb``: at each offset, a 4-byte big-endian uncompressed length followed by a zlib
    stream holding one serialized object (here a character vector, one element per line).

A serialized object is R's XDR format (``X\\n``, versions 2 and 3). Supported: STRSXP, CHARSXP,
INTSXP, LGLSXP, REALSXP, VECSXP, LISTSXP (pairlists: attributes), SYMSXP, REFSXP, NILVALUE.
Anything else raises RealDataError naming the file.
"""

import gzip
import struct
import zlib

from .errors import RealDataError

# SEXP types (R's Rinternals.h / serialize.c)
NILSXP, SYMSXP, LISTSXP, CHARSXP, LGLSXP, INTSXP, REALSXP, STRSXP, VECSXP = 0, 1, 2, 9, 10, 13, 14, 16, 19
REFSXP, NILVALUE_SXP, GLOBALENV_SXP, EMPTYENV_SXP, BASEENV_SXP = 255, 254, 253, 242, 241
NA_INTEGER = -(2 ** 31)
_UTF8, _LATIN1, _BYTES, _ASCII = 1 << 3, 1 << 2, 1 << 1, 1 << 6

_TYPE_NAMES = {0: "NILSXP", 1: "SYMSXP", 2: "LISTSXP", 3: "CLOSXP", 4: "ENVSXP", 6: "LANGSXP",
               9: "CHARSXP", 10: "LGLSXP", 13: "INTSXP", 14: "REALSXP", 15: "CPLXSXP",
               16: "STRSXP", 19: "VECSXP", 20: "EXPRSXP", 24: "RAWSXP", 25: "S4SXP",
               238: "ALTREP_SXP", 255: "REFSXP"}


class RVector(list):
    """An R vector as a Python list, with its attributes (``names`` etc.) in ``.attributes``."""

    def __init__(self, items, rtype, attributes=None):
        super().__init__(items)
        self.rtype = rtype
        self.attributes = attributes or {}

    @property
    def names(self):
        return self.attributes.get("names")


class _Reader:
    def __init__(self, data, source):
        self.data, self.pos, self.source = data, 0, source
        self.refs = []

    def fail(self, what):
        return RealDataError(self.source, f"R serialization, byte {self.pos}: {what}")

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"truncated (needs {n} more bytes, {len(self.data) - self.pos} left)")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def int(self):
        return struct.unpack(">i", self.take(4))[0]

    def length(self):
        n = self.int()
        if n == -1:  # long vector: two more ints
            hi, lo = self.int(), self.int()
            n = (hi << 32) + (lo & 0xFFFFFFFF)
        if n < 0:
            raise self.fail(f"negative length {n}")
        return n

    def header(self):
        fmt = self.take(2)
        if fmt != b"X\n":
            raise self.fail(f"not an XDR serialization (format {fmt!r}; only 'X' is supported)")
        version = self.int()
        self.int()  # writer's R version
        self.int()  # minimal R version to read
        if version == 3:
            n = self.int()
            self.take(n)  # native encoding name
        elif version != 2:
            raise self.fail(f"serialization version {version} (2 or 3 supported)")

    def item(self):
        flags = self.int()
        kind = flags & 0xFF
        levels = flags >> 12
        has_attr = bool(flags & (1 << 9))
        has_tag = bool(flags & (1 << 10))
        if kind == NILVALUE_SXP:
            return None
        if kind in (GLOBALENV_SXP, EMPTYENV_SXP, BASEENV_SXP):
            return None
        if kind == REFSXP:
            index = flags >> 8
            if index == 0:
                index = self.int()
            if not 1 <= index <= len(self.refs):
                raise self.fail(f"reference {index} out of range ({len(self.refs)} known)")
            return self.refs[index - 1]
        if kind == SYMSXP:
            name = self.item()  # a CHARSXP
            self.refs.append(name)
            return name
        if kind == CHARSXP:
            n = self.int()
            if n == -1:
                return None  # NA_character_
            raw = self.take(n)
            if levels & _LATIN1:
                return raw.decode("latin-1")
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise self.fail(f"string is not valid UTF-8 ({e})") from None
        if kind == LISTSXP:
            # A pairlist: (attributes) (tag) car cdr. Returned as a dict tag -> value.
            out = {}
            position = 0
            while True:
                if has_attr:
                    self.item()
                tag = self.item() if has_tag else None
                value = self.item()
                out[tag if tag is not None else position] = value
                position += 1
                flags = self.int()
                kind = flags & 0xFF
                if kind == NILVALUE_SXP:
                    return out
                if kind != LISTSXP:
                    raise self.fail(f"pairlist continued by {_TYPE_NAMES.get(kind, kind)}")
                has_attr = bool(flags & (1 << 9))
                has_tag = bool(flags & (1 << 10))
        if kind == STRSXP:
            n = self.length()
            items = [self.item() for _ in range(n)]
        elif kind in (INTSXP, LGLSXP):
            n = self.length()
            values = struct.unpack(f">{n}i", self.take(4 * n))
            if kind == LGLSXP:
                items = [None if v == NA_INTEGER else bool(v) for v in values]
            else:
                items = [None if v == NA_INTEGER else v for v in values]
        elif kind == REALSXP:
            n = self.length()
            items = list(struct.unpack(f">{n}d", self.take(8 * n)))
        elif kind == VECSXP:
            n = self.length()
            items = [self.item() for _ in range(n)]
        else:
            raise self.fail(f"unsupported R object type {_TYPE_NAMES.get(kind, kind)} "
                            f"(only character, integer, logical, double vectors and lists)")
        attributes = {}
        if has_attr:
            attrs = self.item()
            if not isinstance(attrs, dict):
                raise self.fail("attributes are not a pairlist")
            attributes = attrs
        return RVector(items, kind, attributes)


def unserialize(data, source="<bytes>"):
    """One R object from XDR serialization bytes (see the module docstring for what is read)."""
    r = _Reader(data, source)
    r.header()
    obj = r.item()
    return obj


def _decompress_rdx(raw, path):
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise RealDataError(path, f"bad gzip data ({e})") from None
    if raw[:2] == b"X\n":
        return raw
    return _zlib_record(raw, 0, path)[0]


def _zlib_record(data, offset, path):
    """(payload, bytes used) of one '4-byte big-endian length + zlib stream' record."""
    if offset + 4 > len(data):
        raise RealDataError(path, f"truncated at byte {offset} (no room for a record length)")
    n = struct.unpack(">I", data[offset:offset + 4])[0]
    d = zlib.decompressobj()
    try:
        payload = d.decompress(data[offset + 4:])
    except zlib.error as e:
        raise RealDataError(path, f"record at byte {offset}: bad zlib stream ({e})") from None
    if not d.eof:
        raise RealDataError(path, f"record at byte {offset}: truncated zlib stream")
    if len(payload) != n:
        raise RealDataError(path, f"record at byte {offset}: {len(payload)} bytes inflated, "
                                  f"the length prefix says {n}")
    used = len(data) - offset - 4 - len(d.unused_data)
    return payload, 4 + used


def read_index(rdx_path):
    """{name: (offset, length)} of a lazy-load data base index (.rdx)."""
    rdx_path = str(rdx_path)
    try:
        raw = open(rdx_path, "rb").read()
    except OSError as e:
        raise RealDataError(rdx_path, f"cannot read ({e.strerror})") from None
    index = unserialize(_decompress_rdx(raw, rdx_path), rdx_path)
    if not isinstance(index, RVector) or index.names is None or "variables" not in index.names:
        raise RealDataError(rdx_path, "not a lazy-load index (no 'variables' entry)")
    variables = index[index.names.index("variables")]
    if not isinstance(variables, RVector) or variables.names is None:
        raise RealDataError(rdx_path, "'variables' is not a named list")
    out = {}
    for name, entry in zip(variables.names, variables):
        if not isinstance(entry, RVector) or entry.rtype != INTSXP or len(entry) != 2:
            raise RealDataError(rdx_path, f"entry {name!r} is not c(offset, length)")
        out[name] = (int(entry[0]), int(entry[1]))
    return out


def read_character_vectors(rdb_path, rdx_path=None):
    """{name: list of str} of every character vector in a lazy-load data base (Rdata.rdb; the
    index defaults to the .rdx beside it). NA elements become ''."""
    rdb_path = str(rdb_path)
    if rdx_path is None:
        rdx_path = rdb_path[:-4] + ".rdx" if rdb_path.endswith(".rdb") else rdb_path + ".rdx"
    index = read_index(rdx_path)
    try:
        data = open(rdb_path, "rb").read()
    except OSError as e:
        raise RealDataError(rdb_path, f"cannot read ({e.strerror})") from None
    out = {}
    for name, (offset, length) in index.items():
        if offset < 0 or length < 4 or offset + length > len(data):
            raise RealDataError(rdb_path, f"object {name!r} at [{offset}, {offset + length}) lies "
                                          f"outside the file ({len(data)} bytes): truncated?")
        payload, _ = _zlib_record(data[offset:offset + length], 0, rdb_path)
        obj = unserialize(payload, f"{rdb_path} ({name})")
        if not isinstance(obj, RVector) or obj.rtype != STRSXP:
            kind = _TYPE_NAMES.get(getattr(obj, "rtype", None), type(obj).__name__)
            raise RealDataError(rdb_path, f"object {name!r} is a {kind}, not a character vector")
        out[name] = [s if s is not None else "" for s in obj]
    return out
