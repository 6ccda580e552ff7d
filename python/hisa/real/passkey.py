"""Passkey retrieval: a random 5-digit number is stated once at depth d of L tokens of filler text
(Austen), and asked for at the end.

Decided by teacher forcing in one forward pass: the prompt is followed by the 5 answer digits
(one token each: the tokenizer splits digits), and the model retrieves the number iff its argmax
at each of the 5 positions before a digit is that digit. That is exactly "greedy decoding
produces the number" (each greedy step sees the same prefix as the forced one).

Templates:
  plain  intro, filler with the needle sentence at depth d, "What is the pass key? The pass key
         is " + digits;
  chat   the same inside the model's ChatML turns (<|im_start|>system/user/assistant), the
         assistant's turn starting "The pass key is " + digits.
"""

import math
import time

import numpy as np

from . import methods as methods_mod
from .errors import RealDataError

INTRO = ("There is an important pass key hidden inside a lot of irrelevant text. Find it and "
         "memorize it. I will quiz you about the pass key.\n\n")
NEEDLE = "\n\nThe pass key is {n}. Remember it. {n} is the pass key.\n\n"
QUESTION = "\n\nWhat is the pass key? The pass key is "
CHAT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def _pieces(template, number):
    """(head, needle, tail) texts around the filler; the answer digits follow the tail."""
    needle = NEEDLE.format(n=number)
    if template == "plain":
        return INTRO, needle, QUESTION
    if template == "chat":
        head = f"<|im_start|>system\n{CHAT_SYSTEM}<|im_end|>\n<|im_start|>user\n{INTRO}"
        tail = ("\n\nWhat is the pass key?<|im_end|>\n<|im_start|>assistant\n"
                "The pass key is ")
        return head, needle, tail
    raise RealDataError("--template", f"{template!r}: plain or chat")


def build(tokenizer, filler, L, depth, number, template="plain"):
    """(ids int32 [L], answer positions [5]: ids[p] is the i-th digit, needle token offset).
    `filler`: token ids of the filler text (at least L of them)."""
    head, needle, tail = _pieces(template, number)
    h, n, t = (tokenizer.encode(x) for x in (head, needle, tail))
    digits = [tokenizer.encode(c) for c in str(number)]
    if any(len(d) != 1 for d in digits):
        raise RealDataError("tokenizer", "digits are not single tokens: passkey needs them to be")
    digits = [d[0] for d in digits]
    budget = L - len(h) - len(n) - len(t) - len(digits)
    if budget < 16:
        raise RealDataError("--L", f"{L} tokens leave no room for filler text around the passkey")
    if len(filler) < budget:
        raise RealDataError("--text", f"filler text has {len(filler)} tokens, {budget} needed")
    fill = list(filler[:budget])
    at = int(round(depth * budget))
    # Move the needle back to a line break (a token holding '\n') when one is close.
    for back in range(0, min(64, at)):
        if "\n" in tokenizer.decode([fill[at - back - 1]]):
            at -= back
            break
    ids = h + fill[:at] + n + fill[at:] + t + digits
    assert len(ids) == L, (len(ids), L)
    first = L - len(digits)
    return np.asarray(ids, dtype=np.int32), np.arange(first, L), len(h) + at


def run(llama, tokenizer, filler, L, depths, method_list, topk, trials=1, seed=0,
        template="plain", select_dtype="f32", threads=0, log=print):
    """Rows: one per (method, depth, trial) with `retrieved` (all 5 digits greedy-correct),
    `digits_correct`, `answer_logprob`; plus summary rows per method (accuracy over depths)."""
    rng = np.random.default_rng(seed)
    numbers = rng.integers(10000, 100000, size=(trials, len(depths)))
    offsets = rng.integers(0, max(1, len(filler) - L), size=trials)
    rows = []
    for m in method_list:
        for ti in range(trials):
            fill = filler[int(offsets[ti]):]
            for di, depth in enumerate(depths):
                number = int(numbers[ti, di])
                ids, answer, needle_at = build(tokenizer, fill, L, depth, number, template)
                selector = None if m.dense else methods_mod.Selector(m, topk, select_dtype, threads)
                t0 = time.perf_counter()
                hidden = llama.forward(ids, select=selector)
                logits = llama.logits(hidden, answer - 1)
                seconds = time.perf_counter() - t0
                greedy = logits.argmax(axis=1)
                target = ids[answer]
                lse = np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1)
                logprob = float((logits[np.arange(len(answer)), target] - lse).sum())
                ok = int((greedy == target).sum())
                row = dict(method=m.spec, topk=None if m.dense else int(topk), depth=float(depth),
                           trial=ti, number=number, needle_token=int(needle_at),
                           retrieved=bool(ok == len(answer)), digits_correct=ok,
                           answer_logprob=logprob, greedy=tokenizer.decode(greedy.tolist()),
                           seconds=seconds, select_seconds=selector.seconds if selector else 0.0,
                           forward_parts={k: round(v, 3) for k, v in llama.timings.items()})
                rows.append(row)
                log(f"{m.spec:24s} depth {depth:.2f} trial {ti}: {number} -> greedy "
                    f"{row['greedy']!r} ({ok}/5 digits, log p {logprob:.2f}, {seconds:.1f} s)")
    summary = []
    for m in method_list:
        mine = [r for r in rows if r["method"] == m.spec]
        by_depth = {}
        for r in mine:
            by_depth.setdefault(r["depth"], []).append(r["retrieved"])
        summary.append(dict(method=m.spec, topk=None if m.dense else int(topk),
                            accuracy=float(np.mean([r["retrieved"] for r in mine])),
                            digit_accuracy=float(np.mean([r["digits_correct"] / 5 for r in mine])),
                            mean_answer_logprob=float(np.mean([r["answer_logprob"] for r in mine])),
                            by_depth={f"{d:.2f}": float(np.mean(v)) for d, v in by_depth.items()}))
    return rows, summary


def table(summary, depths):
    head = f"{'method':24s} {'topk':>5s} " + " ".join(f"{d:>5.2f}" for d in depths) + \
        f" {'acc':>5s} {'digits':>6s} {'log p':>7s}"
    lines = [head, "-" * len(head)]
    for s in summary:
        cells = " ".join(f"{s['by_depth'][f'{d:.2f}']:5.2f}" for d in depths)
        topk = "-" if s["topk"] is None else str(s["topk"])
        lines.append(f"{s['method']:24s} {topk:>5s} {cells} {s['accuracy']:5.2f} "
                     f"{s['digit_accuracy']:6.2f} {s['mean_answer_logprob']:7.2f}")
    return "\n".join(lines)


def parse_depths(text, argument="--depths"):
    try:
        depths = [float(x) for x in str(text).replace(",", " ").split()]
    except ValueError:
        raise RealDataError(argument, f"{text!r}: numbers in [0, 1] separated by commas") from None
    if not depths or any(not 0.0 <= d <= 1.0 or math.isnan(d) for d in depths):
        raise RealDataError(argument, f"{text!r}: numbers in [0, 1] separated by commas")
    return depths
