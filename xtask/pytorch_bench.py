#!/usr/bin/env python3
"""PyTorch eager twin of `makemore bench`, for `cargo xtask bench`.

The same models as configs/lecture/batchnorm.toml (bn1) and deep-batchnorm.toml (deep), the same
recipe (batches of 32 drawn with replacement, plain SGD at lr 0.1), the same split (Python's
random.seed(42) shuffle, 80/10/10, block size 3). Prints one JSON line: microseconds per training
step (median of the repeats, after a warm-up), the time to evaluate all three splits, and the time
to sample 1,000 names in one batch.

    python3 xtask/pytorch_bench.py --model deep --data data/names.txt --steps 2000 --repeats 1

The ladder of `cargo xtask bench --ladder` scales the deep stack (`--hidden 512,512,512
--block-size 8 --n-embd 24 --batch-size 256` for configs/bench/wide.toml) and sets `--threads`
(1, or every core). `--peak` prints the GFLOP/s of one 2048 x 2048 x 2048 product instead.
"""
import argparse, json, random, statistics, time

import torch
import torch.nn as nn
import torch.nn.functional as F


def load(path, block_size):
    words = open(path).read().splitlines()
    words = [w.strip() for w in words if w.strip()]
    chars = sorted(set("".join(words)))
    stoi = {c: i + 1 for i, c in enumerate(chars)}
    random.seed(42)
    random.shuffle(words)
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))

    def windows(ws):
        xs, ys = [], []
        for w in ws:
            ctx = [0] * block_size
            for ch in w + ".":
                ix = stoi.get(ch, 0)
                xs.append(ctx)
                ys.append(ix)
                ctx = ctx[1:] + [ix]
        return torch.tensor(xs), torch.tensor(ys)

    return len(stoi) + 1, [windows(words[:n1]), windows(words[n1:n2]), windows(words[n2:])]


def build(model, vocab, block_size=3, n_embd=10, widths=None):
    hidden, momentum = ([200], 0.001) if model == "bn1" else ([100] * 5, 0.1)
    if widths:  # a rung of the ladder: the same shape, other sizes
        hidden = widths
    mods = [nn.Embedding(vocab, n_embd), nn.Flatten()]
    fan_in = n_embd * block_size
    for h in hidden:
        lin = nn.Linear(fan_in, h, bias=False)
        nn.init.kaiming_normal_(lin.weight, nonlinearity="tanh")
        mods += [lin, nn.BatchNorm1d(h, momentum=momentum), nn.Tanh()]
        fan_in = h
    if model == "deep":
        out = nn.Linear(fan_in, vocab, bias=False)
        nn.init.normal_(out.weight, std=1 / fan_in**0.5)
        bn = nn.BatchNorm1d(vocab, momentum=momentum)
        with torch.no_grad():
            bn.weight.mul_(0.1)
        mods += [out, bn]
    else:
        out = nn.Linear(fan_in, vocab)
        with torch.no_grad():
            out.weight.mul_(0.1)
            out.bias.zero_()
        mods.append(out)
    return nn.Sequential(*mods)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["bn1", "deep"], default="bn1")
    ap.add_argument("--data")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--hidden", default="", help="comma-separated hidden widths (a ladder rung)")
    ap.add_argument("--block-size", type=int, default=3)
    ap.add_argument("--n-embd", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads; 0 keeps torch's default")
    ap.add_argument("--peak", action="store_true", help="time one large matrix product and exit")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.peak:
        n = 2048
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
        print(json.dumps({"impl": f"pytorch-{torch.__version__}", "threads": torch.get_num_threads(),
                          "n": n, "gflops": round(2 * n**3 / best / 1e9, 2)}))
        return
    if not args.data:
        ap.error("--data is required (except with --peak)")
    torch.manual_seed(2147483647)
    vocab, splits = load(args.data, args.block_size)
    xtr, ytr = splits[0]
    widths = [int(w) for w in args.hidden.split(",") if w]
    runs = []
    for _ in range(args.repeats):
        net = build(args.model, vocab, args.block_size, args.n_embd, widths)
        params = list(net.parameters())

        def step():
            ix = torch.randint(0, xtr.shape[0], (args.batch_size,))
            loss = F.cross_entropy(net(xtr[ix]), ytr[ix])
            for p in params:
                p.grad = None
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p.add_(p.grad, alpha=-0.1)
            return loss

        for _ in range(args.warmup):
            step()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            loss = step()
        loss.item()
        runs.append((time.perf_counter() - t0) / args.steps * 1e6)
    net.eval()
    with torch.no_grad():
        t0 = time.perf_counter()
        for x, y in splits:
            F.cross_entropy(net(x), y).item()
        eval_ms = (time.perf_counter() - t0) * 1e3
        g = torch.Generator().manual_seed(1)
        t0 = time.perf_counter()
        ctx = torch.zeros((args.samples, args.block_size), dtype=torch.long)
        done = torch.zeros(args.samples, dtype=torch.bool)
        sample_rows = 0
        for _ in range(64):
            sample_rows += ctx.shape[0]
            probs = F.softmax(net(ctx), dim=1)
            ix = torch.multinomial(probs, 1, generator=g).squeeze(1)
            done |= ix == 0
            ctx = torch.cat([ctx[:, 1:], ix[:, None]], dim=1)
            if bool(done.all()):
                break
        sample_ms = (time.perf_counter() - t0) * 1e3
    us = statistics.median(runs)
    print(json.dumps({
        "impl": f"pytorch-{torch.__version__}", "model": args.model, "threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "us_per_step": round(us, 1), "steps_per_s": round(1e6 / us, 1), "us_per_step_runs": [round(r, 1) for r in runs],
        "eval_all_ms": round(eval_ms, 1), "sample_ms": round(sample_ms, 1), "samples": args.samples,
        "sample_rows": sample_rows,
        "parameters": sum(p.numel() for p in params),
    }))


if __name__ == "__main__":
    main()
