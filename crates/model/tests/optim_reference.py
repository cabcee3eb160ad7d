# Independent reference for makemore's optimizer tests: PyTorch's documented update rules
# (torch.optim.SGD / Adam / AdamW / RMSprop, single-tensor path, amsgrad off, maximize off), in
# plain Python floats, with every option of each optimizer taken from the case (PyTorch's
# defaults otherwise). Problem: p0 = [1.0, -2.0], loss = sum(0.5 * a * p^2 + c * p), so
# grad = a * p + c; lr 0.1. Prints each case (as a config's `optimizer = { ... }` table) and p
# after 1, 3 and 5 steps, which `reference_cases` in crates/model/src/optim.rs's tests copies.
# Run: python3 crates/model/tests/optim_reference.py
import math

a = [0.5, 2.0]; c = [0.3, -0.1]; lr = 0.1
DEFAULTS = {
    "sgd": dict(momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0),
    "adam": dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
    "adamw": dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01),
    "rmsprop": dict(alpha=0.99, eps=1e-8, momentum=0.0, centered=False, weight_decay=0.0),
}
def grad(p): return [ai * pi + ci for ai, pi, ci in zip(a, p, c)]
def run(kind, steps, **options):
    unknown = set(options) - set(DEFAULTS[kind])
    assert not unknown, f"{kind} has no option {unknown}"
    o = {**DEFAULTS[kind], **options}
    wd = o["weight_decay"]
    p = [1.0, -2.0]; st = {}
    for t in range(1, steps + 1):
        g = grad(p)
        if kind == "sgd":
            m, d, nest = o["momentum"], o["dampening"], o["nesterov"]
            assert not nest or (m > 0 and d == 0), "PyTorch: nesterov needs momentum and no dampening"
            g = [gi + wd * pi for gi, pi in zip(g, p)]
            if m != 0:
                b = st.get("b")
                b = list(g) if b is None else [m * bi + (1 - d) * gi for bi, gi in zip(b, g)]
                st["b"] = b
                g = [gi + m * bi for gi, bi in zip(g, b)] if nest else b
            p = [pi - lr * gi for pi, gi in zip(p, g)]
        elif kind in ("adam", "adamw"):
            b1, b2, eps = o["beta1"], o["beta2"], o["eps"]
            if kind == "adamw": p = [pi * (1 - lr * wd) for pi in p]
            else: g = [gi + wd * pi for gi, pi in zip(g, p)]
            m = st.get("m", [0.0, 0.0]); v = st.get("v", [0.0, 0.0])
            m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g)]
            v = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v, g)]
            st["m"], st["v"] = m, v
            bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
            p = [pi - (lr / bc1) * mi / (math.sqrt(vi) / math.sqrt(bc2) + eps) for pi, mi, vi in zip(p, m, v)]
        elif kind == "rmsprop":
            al, eps, mom, cen = o["alpha"], o["eps"], o["momentum"], o["centered"]
            g = [gi + wd * pi for gi, pi in zip(g, p)]
            sq = st.get("sq", [0.0, 0.0]); sq = [al * s + (1 - al) * gi * gi for s, gi in zip(sq, g)]; st["sq"] = sq
            if cen:
                ga = st.get("ga", [0.0, 0.0]); ga = [al * x + (1 - al) * gi for x, gi in zip(ga, g)]; st["ga"] = ga
                avg = [math.sqrt(s - x * x) + eps for s, x in zip(sq, ga)]
            else:
                avg = [math.sqrt(s) + eps for s in sq]
            if mom > 0:
                b = st.get("b", [0.0, 0.0]); b = [mom * bi + gi / ai for bi, gi, ai in zip(b, g, avg)]; st["b"] = b
                p = [pi - lr * bi for pi, bi in zip(p, b)]
            else:
                p = [pi - lr * gi / ai for pi, gi, ai in zip(p, g, avg)]
    return p
cases = [
  # Defaults, and the combinations the first version of this table had.
  ("sgd", dict()), ("sgd", dict(momentum=0.9)), ("sgd", dict(momentum=0.9, dampening=0.5, weight_decay=0.01)),
  ("sgd", dict(momentum=0.9, nesterov=True)),
  ("adam", dict()), ("adam", dict(weight_decay=0.1)), ("adamw", dict()), ("adamw", dict(weight_decay=0.1)),
  ("rmsprop", dict()), ("rmsprop", dict(momentum=0.9, centered=True, weight_decay=0.01)),
  # One option at a time away from its default (the others at PyTorch's defaults), so that a rule
  # that ignores or misplaces that one option misses these numbers; then all of them at once.
  # (AdamW reads the same constants as Adam: its own cases are its default decay, 0.01, another
  # decay, and all at once.)
  ("sgd", dict(momentum=0.5)), ("sgd", dict(momentum=0.9, dampening=0.5)), ("sgd", dict(weight_decay=0.5)),
  ("sgd", dict(momentum=0.5, nesterov=True)),
  ("adam", dict(beta1=0.5)), ("adam", dict(beta2=0.9)), ("adam", dict(eps=0.1)),
  ("adamw", dict(weight_decay=0.5)),
  ("adamw", dict(beta1=0.5, beta2=0.9, eps=0.1, weight_decay=0.5)),
  ("rmsprop", dict(alpha=0.5)), ("rmsprop", dict(eps=0.1)), ("rmsprop", dict(momentum=0.5)),
  ("rmsprop", dict(centered=True)), ("rmsprop", dict(weight_decay=0.5)),
  ("rmsprop", dict(alpha=0.5, eps=0.1, momentum=0.5, centered=True, weight_decay=0.5)),
]
def toml(kind, o):  # the case as makemore's config writes it: `optimizer = { <this> }`
    value = lambda v: str(v).lower() if isinstance(v, bool) else repr(v)
    return f"{kind} = {{ {', '.join(f'{k} = {value(v)}' for k, v in o.items())} }}" if o else f"{kind} = {{}}"
for kind, o in cases:
    print(toml(kind, o), *(f"{n}: [{', '.join('%.9f' % x for x in run(kind, n, **o))}]" for n in (1, 3, 5)), sep=" | ")
