"""Python faces of the library's errors (created by the extension, hisa._C).

ArgumentError is a ValueError, DTypeError a TypeError, BackendError a RuntimeError. The first two
carry ``.argument``: the name of the Python parameter at fault (``q``, ``kv``, ``weights``,
``cu_seq_len_k_start``, ``topk``, ...).
"""

import contextlib

from . import _C

ArgumentError = _C.ArgumentError
DTypeError = _C.DTypeError
BackendError = _C.BackendError

# The C++ API names its inputs after hisa::Problem / hisa::Config; the Python functions follow
# DeepGEMM's fp8_mqa_logits. Errors name the Python parameter (and the C++ one in brackets).
_PYTHON_NAME = {
    "k": "kv",
    "k_scale": "kv",
    "w": "weights",
    "ks": "cu_seq_len_k_start",
    "ke": "cu_seq_len_k_end",
    "blocks": "num_blocks",
}


def argument_error(argument, what):
    """A ValueError naming `argument` (message "argument: what")."""
    e = ArgumentError(f"{argument}: {what}")
    e.argument = argument
    return e


def dtype_error(argument, what):
    """A TypeError naming `argument`."""
    e = DTypeError(f"{argument}: {what}")
    e.argument = argument
    return e


@contextlib.contextmanager
def python_names():
    """Re-raise errors from the C++ API under the Python parameter names."""
    try:
        yield
    except (ArgumentError, DTypeError) as e:
        c_name = getattr(e, "argument", None)
        py_name = _PYTHON_NAME.get(c_name)
        if py_name is None:
            raise
        message = str(e)
        prefix = f"{c_name}: "
        rest = message[len(prefix):] if message.startswith(prefix) else message
        renamed = type(e)(f"{py_name} ({c_name}): {rest}")
        renamed.argument = py_name
        raise renamed from None
