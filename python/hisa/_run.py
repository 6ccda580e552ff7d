"""One call into the C++ dispatcher for normalised inputs (eager path; the torch ops use it too)."""

from . import _C
from ._errors import argument_error, python_names
from ._inputs import (
    Inputs,
    address,
    backend_of,
    check_output,
    device_workspace,
    integer,
    make_config,
    new_output,
    torch,
)


def run(method, q, kv, weights, ks, ke, knobs, *, allow_nonfinite=False, check_values=True,
        backend=None, threads=0, out=None, workspace=None):
    """idx [T, topk] int32 for `method` ('flat', 'hisa', 'block', 'misa'), in q's framework and
    on q's device. `knobs`: topk, block_size, num_blocks, heads, candidates (as make_config)."""
    inputs = Inputs(q, kv, weights, ks, ke)
    config = make_config(method, **knobs)
    with python_names():
        _C.validate_shapes(inputs.problem, config)  # before allocating [T, topk]
    device = backend_of(backend, inputs)
    out = new_output(inputs, config.topk) if out is None else check_output(out, inputs, config.topk)

    opts = _C.Options()
    opts.device = device
    opts.allow_nonfinite = bool(allow_nonfinite)
    opts.check_values = bool(check_values)
    opts.threads = integer(threads, "threads")

    if inputs.memory == _C.Device.cuda and device == _C.Device.cuda:
        ws, ws_address, ws_bytes = device_workspace(inputs, config, workspace)
        opts.workspace, opts.workspace_bytes = ws_address, ws_bytes
        # The backend launches on the current device: make it q's, and run on torch's current
        # stream there so the call orders with the caller's kernels (and is graph-capturable).
        with torch.cuda.device(inputs.device):
            opts.stream = torch.cuda.current_stream(inputs.device).cuda_stream
            with python_names():
                _C.select(inputs.problem, config, address(out), opts)
        del ws  # back to torch's stream-ordered cache: reuse waits for this stream's work
    else:
        if workspace is not None:
            raise argument_error("workspace", "is only used when the inputs are CUDA tensors")
        with python_names():
            _C.select(inputs.problem, config, address(out), opts)
    return out


def workspace_bytes(method, q, kv, weights, ks, ke, knobs, device):
    inputs = Inputs(q, kv, weights, ks, ke)
    config = make_config(method, **knobs)
    target = backend_of(device, inputs)
    with python_names():
        return _C.workspace_bytes(inputs.problem, config, target)
