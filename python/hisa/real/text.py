"""Text sources (an Austen novel from the fetch cache, or any UTF-8 file) and token windows."""

import os

import numpy as np

from . import fetch
from .errors import RealDataError


def load_text(cache_dir, book=None, text_file=None, book_argument="--book"):
    """(text, source) of `text_file` (any UTF-8 file) or else of Austen's `book` from the cache."""
    if text_file:
        try:
            with open(text_file, "r", encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise RealDataError(text_file, "text file not found (--text)") from None
        except UnicodeDecodeError as e:
            raise RealDataError(text_file, f"not UTF-8 text ({e})") from None
        except OSError as e:
            raise RealDataError(text_file, f"cannot read ({e.strerror})") from None
        return text, {"kind": "file", "path": os.path.abspath(text_file)}
    if book not in fetch.BOOKS:
        raise RealDataError(book_argument, f"{book!r} is not one of {', '.join(fetch.BOOKS)}")
    path = fetch.book_path(cache_dir, book)
    if not os.path.isfile(path):
        raise RealDataError(path, "not found: run `python -m hisa.real fetch` first "
                                  "(or pass --text FILE / --cache-dir)")
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    return text, {"kind": "janeaustenr", "book": book, "path": path,
                  "package": f"Debian {fetch.DEB_PACKAGE}"}


def tokenize(tokenizer, text, source, L, argument="--L"):
    """int32 token ids of `text`, which must hold at least L tokens."""
    ids = np.asarray(tokenizer.encode(text), dtype=np.int32)
    if len(ids) < L:
        where = source.get("path", "the text")
        raise RealDataError(where, f"text is shorter than {argument} {L}: {len(ids)} tokens")
    return ids


def windows(n_tokens, L, count, offset=0, argument="--windows"):
    """`count` non-overlapping [start, start + L) windows of a text of n_tokens tokens, spread
    evenly over [offset, n_tokens)."""
    if count < 1:
        raise RealDataError(argument, f"{count}: must be >= 1")
    room = n_tokens - offset
    if room < count * L:
        raise RealDataError(argument, f"{count} windows of {L} tokens do not fit in the text's "
                                      f"{room} tokens (after offset {offset})")
    if count == 1:
        return [(offset, offset + L)]
    step = (room - L) // (count - 1)
    return [(offset + i * step, offset + i * step + L) for i in range(count)]


def check_L(L, n_ctx, argument="--L"):
    if L < 2:
        raise RealDataError(argument, f"{L}: must be >= 2")
    if L > n_ctx:
        raise RealDataError(argument, f"{L} exceeds the model's context length {n_ctx}")
