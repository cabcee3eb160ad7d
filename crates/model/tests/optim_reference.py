# Independent reference for makemore's optimizer tests: PyTorch's documented update rules
# (torch.optim.SGD / Adam / AdamW / RMSprop, single-tensor path), in plain Python floats.
# Problem: p0 = [1.0, -2.0], loss = sum(0.5 * a * p^2 + c * p) => grad = a * p + c.
import math
a = [0.5, 2.0]; c = [0.3, -0.1]; lr = 0.1
def grad(p): return [ai * pi + ci for ai, pi, ci in zip(a, p, c)]
def run(kind, steps, **o):
    p = [1.0, -2.0]; st = {}
    for t in range(1, steps + 1):
        g = grad(p)
        wd = o.get("weight_decay", 0.0)
        if kind == "sgd":
            g = [gi + wd * pi for gi, pi in zip(g, p)]
            m, d, nest = o.get("momentum", 0.0), o.get("dampening", 0.0), o.get("nesterov", False)
            if m:
                b = st.get("b")
                b = list(g) if b is None else [m * bi + (1 - d) * gi for bi, gi in zip(b, g)]
                st["b"] = b
                g = [gi + m * bi for gi, bi in zip(g, b)] if nest else b
            p = [pi - lr * gi for pi, gi in zip(p, g)]
        elif kind in ("adam", "adamw"):
            b1, b2, eps = 0.9, 0.999, 1e-8
            if kind == "adamw": p = [pi * (1 - lr * wd) for pi in p]
            else: g = [gi + wd * pi for gi, pi in zip(g, p)]
            m = st.get("m", [0.0, 0.0]); v = st.get("v", [0.0, 0.0])
            m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g)]
            v = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v, g)]
            st["m"], st["v"] = m, v
            bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
            p = [pi - (lr / bc1) * mi / (math.sqrt(vi) / math.sqrt(bc2) + eps) for pi, mi, vi in zip(p, m, v)]
        elif kind == "rmsprop":
            al, eps, mom, cen = o.get("alpha", 0.99), 1e-8, o.get("momentum", 0.0), o.get("centered", False)
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
  ("sgd", dict()), ("sgd", dict(momentum=0.9)), ("sgd", dict(momentum=0.9, dampening=0.5, weight_decay=0.01)),
  ("sgd", dict(momentum=0.9, nesterov=True)),
  ("adam", dict()), ("adam", dict(weight_decay=0.1)), ("adamw", dict(weight_decay=0.1)),
  ("rmsprop", dict()), ("rmsprop", dict(momentum=0.9, centered=True, weight_decay=0.01)),
]
for kind, o in cases:
    print(kind, o, "1:", ["%.9f" % x for x in run(kind, 1, **o)], "3:", ["%.9f" % x for x in run(kind, 3, **o)])
