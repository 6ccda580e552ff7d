"""hisa.real.rdata / fetch: the R lazy-load data base reader (janeaustenr's Rdata.rdb/.rdx) and the
.deb unpacker, on files the test fabricates (R serialization written here, independently of the
reader)."""

import gzip
import io
import struct
import tarfile
import zlib

import pytest

from hisa.real import RealDataError, fetch, rdata


# ---- an R serializer (XDR), as R's serialize.c writes it ------------------------------------

def i32(v):
    return struct.pack(">i", v)


class RWriter:
    def __init__(self, version=3):
        self.version = version
        self.symbols = {}

    def header(self):
        out = b"X\n" + i32(self.version) + i32(0x040201) + i32(0x030500)
        if self.version == 3:
            out += i32(5) + b"UTF-8"
        return out

    @staticmethod
    def charsxp(s, latin1=False):
        if s is None:
            return i32(9) + i32(-1)
        if latin1:
            return i32(9 | (1 << 2) << 12) + i32(len(s.encode("latin-1"))) + s.encode("latin-1")
        b = s.encode("utf-8")
        level = (1 << 6) if s.isascii() else (1 << 3)  # ASCII_MASK / UTF8_MASK
        return i32(9 | level << 12) + i32(len(b)) + b

    def symbol(self, name):
        if name in self.symbols:  # REFSXP with the index packed in the flags
            return i32((self.symbols[name] << 8) | 255)
        self.symbols[name] = len(self.symbols) + 1
        return i32(1) + self.charsxp(name)

    def strsxp(self, items, latin1=()):
        return i32(16) + i32(len(items)) + b"".join(
            self.charsxp(s, i in latin1) for i, s in enumerate(items))

    def intsxp(self, values):
        return i32(13) + i32(len(values)) + b"".join(i32(v) for v in values)

    def named_list(self, items):
        """VECSXP with attributes: pairlist(names = <STRSXP>)."""
        body = i32(19 | 1 << 9) + i32(len(items)) + b"".join(items.values())
        attrs = i32(2 | 1 << 10) + self.symbol("names") + self.strsxp(list(items)) + i32(254)
        return body + attrs


def serialize(build, version=3):
    w = RWriter(version)
    return w.header() + build(w)


def write_db(directory, books, rdx="gzip", version=3, corrupt=None):
    rdb = bytearray()
    offsets = {}
    for name, lines in books.items():
        payload = serialize(lambda w: w.strsxp(lines), version)
        if corrupt == name:
            payload = payload[:len(payload) // 2]
        record = struct.pack(">I", len(payload)) + zlib.compress(payload)
        offsets[name] = (len(rdb), len(record))
        rdb += record
    index = serialize(lambda w: w.named_list({
        "variables": w.named_list({n: w.intsxp(list(o)) for n, o in offsets.items()}),
        "references": w.named_list({}),
        "compressed": i32(10) + i32(1) + i32(1)}), version)
    (directory / "Rdata.rdb").write_bytes(bytes(rdb))
    raw = gzip.compress(index) if rdx == "gzip" else struct.pack(">I", len(index)) + zlib.compress(index)
    (directory / "Rdata.rdx").write_bytes(raw)
    return directory / "Rdata.rdb"


BOOKS = {
    "emma": ["EMMA", "", "By Jane Austen", "Emma Woodhouse, handsome, clever, and rich,"],
    "persuasion": ["Persuasion", None, "Sir Walter Elliot, of Kellynch Hall, in Somersetshire"],
    "prideprejudice": ["It is a truth universally acknowledged", "café — naïve ✓"],
}


@pytest.mark.parametrize("rdx", ["gzip", "zlib"])
@pytest.mark.parametrize("version", [2, 3])
def test_read_character_vectors(tmp_path, rdx, version):
    rdb = write_db(tmp_path, BOOKS, rdx=rdx, version=version)
    got = rdata.read_character_vectors(rdb)
    assert list(got) == list(BOOKS)
    for name, lines in BOOKS.items():
        assert got[name] == [s if s is not None else "" for s in lines]
    index = rdata.read_index(tmp_path / "Rdata.rdx")
    assert index["emma"][0] == 0 and sum(n for _, n in index.values()) == len(rdb.read_bytes())


def test_latin1_and_refs():
    data = serialize(lambda w: w.strsxp(["na\u00efve", "plain"], latin1=(0,)))
    assert rdata.unserialize(data) == ["na\u00efve", "plain"]


def test_books_from_rdata(tmp_path):
    books = {b: [f"{b} line 1", "", f"{b} line 3"] for b in fetch.BOOKS}
    rdb = write_db(tmp_path, books)
    got = fetch.books_from_rdata(rdb)
    assert got["emma"] == "emma line 1\n\nemma line 3" and set(got) == set(fetch.BOOKS)
    write_db(tmp_path, {"emma": ["x"]})
    with pytest.raises(RealDataError, match="no prideprejudice"):
        fetch.books_from_rdata(rdb)


def test_truncated_rdb(tmp_path):
    rdb = write_db(tmp_path, BOOKS)
    data = rdb.read_bytes()
    rdb.write_bytes(data[:len(data) - 10])
    with pytest.raises(RealDataError) as e:
        rdata.read_character_vectors(rdb)
    assert str(rdb) in str(e.value) and "truncated" in str(e.value)


def test_truncated_object(tmp_path):
    rdb = write_db(tmp_path, BOOKS, corrupt="persuasion")
    with pytest.raises(RealDataError, match="truncated") as e:
        rdata.read_character_vectors(rdb)
    assert str(rdb) in str(e.value) and "persuasion" in str(e.value)


def test_unsupported_type_names_the_file(tmp_path):
    closure = b"X\n" + i32(2) + i32(0) + i32(0) + i32(3)  # CLOSXP
    with pytest.raises(RealDataError, match="unsupported R object type CLOSXP") as e:
        rdata.unserialize(closure, "some.rdb")
    assert "some.rdb" in str(e.value)
    with pytest.raises(RealDataError, match="not an XDR"):
        rdata.unserialize(b"A\n" + i32(3), "x.rds")
    # a data base whose object is not a character vector
    rdb = tmp_path / "Rdata.rdb"
    payload = serialize(lambda w: w.intsxp([1, 2, 3]))
    rdb.write_bytes(struct.pack(">I", len(payload)) + zlib.compress(payload))
    index = serialize(lambda w: w.named_list({"variables": w.named_list(
        {"nums": w.intsxp([0, len(rdb.read_bytes())])})}))
    (tmp_path / "Rdata.rdx").write_bytes(gzip.compress(index))
    with pytest.raises(RealDataError, match="'nums' is a INTSXP, not a character vector"):
        rdata.read_character_vectors(rdb)


def test_missing_files(tmp_path):
    with pytest.raises(RealDataError, match="cannot read") as e:
        rdata.read_character_vectors(tmp_path / "Rdata.rdb")
    assert "Rdata.rdx" in str(e.value)


def test_extract_deb(tmp_path):
    """A .deb is an ar archive holding debian-binary, control.tar.xz and data.tar.xz."""
    payload = b"hello from the package\n"
    data_tar = io.BytesIO()
    with tarfile.open(fileobj=data_tar, mode="w:xz") as tar:
        info = tarfile.TarInfo("./usr/share/doc/pkg/README")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))

    def member(name, body):
        head = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n".encode()
        return head + body + (b"\n" if len(body) % 2 else b"")

    deb = tmp_path / "pkg_1.0_all.deb"
    deb.write_bytes(b"!<arch>\n" + member("debian-binary", b"2.0\n")
                    + member("control.tar.xz", b"x") + member("data.tar.xz", data_tar.getvalue()))
    fetch.extract_deb(str(deb), str(tmp_path / "out"), log=lambda m: None)
    assert (tmp_path / "out/usr/share/doc/pkg/README").read_bytes() == payload
    bad = tmp_path / "bad.deb"
    bad.write_bytes(b"not an archive")
    with pytest.raises(RealDataError, match="not an ar archive") as e:
        fetch.extract_deb(str(bad), str(tmp_path / "out2"))
    assert str(bad) in str(e.value)
