"""A plain fp32 SaGAN trainer, independent of sagan_edit's networks and trainer, on the toy faces.

Written from the paper and a common public layout (BatchNorm in the residual blocks, non-affine
InstanceNorm, conv biases, LeakyReLU 0.2 in D, the attribute concatenated, G's step on a fresh
batch), to compare with sagan-edit's trainer (the training guide's synthetic measurements).
Flags switch each choice to sagan-edit's. Prints held-out scores (tests/learning_check.py) every
``--every`` steps, as JSON lines. Example, the guide's seed-1 run::

    python scripts/plain_synthetic_trainer.py --steps 120 --every 60 --seed 1
"""

import argparse
import json
import sys
import time
from collections import namedtuple
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from learning_check import synthetic_scores
from synthetic import SyntheticMarkDataset

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=1000)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--size", type=int, default=64)
p.add_argument("--base", type=int, default=16)
p.add_argument("--batch", type=int, default=16)
p.add_argument("--lr", type=float, default=2e-4)
p.add_argument("--res-norm", default="bn")
p.add_argument("--affine", type=int, default=0)
p.add_argument("--slope", type=float, default=0.2)
p.add_argument("--bias", type=int, default=1)
p.add_argument("--same-batch", type=int, default=0)
p.add_argument("--attr-after", type=int, default=0)
p.add_argument("--batched", type=int, default=0)
p.add_argument("--every", type=int, default=100)
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)


def norm(c, kind="in"):
    return nn.BatchNorm2d(c) if kind == "bn" else nn.InstanceNorm2d(c, affine=bool(a.affine))


class Res(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.f = nn.Sequential(
            nn.Conv2d(c, c, 3, 1, 1, bias=bool(a.bias)),
            norm(c, a.res_norm),
            nn.ReLU(True),
            nn.Conv2d(c, c, 3, 1, 1, bias=bool(a.bias)),
            norm(c, a.res_norm),
        )

    def forward(s, x):
        return x + s.f(x)


def net(cin, cout, head, b):
    L = [nn.Conv2d(cin, b, 7, 1, 3, bias=bool(a.bias)), norm(b), nn.ReLU(True)]
    c = b
    for _ in range(3):
        L += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=bool(a.bias)), norm(2 * c), nn.ReLU(True)]
        c *= 2
    L += [Res(c) for _ in range(4)]
    for _ in range(3):
        L += [
            nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=bool(a.bias)),
            norm(c // 2),
            nn.ReLU(True),
        ]
        c //= 2
    return nn.Sequential(*L, nn.Conv2d(c, cout, 7, 1, 3), head)


Out = namedtuple("Out", "image mask")


class G(nn.Module):
    def __init__(s):
        super().__init__()
        s.amn = net(4, 3, nn.Tanh(), a.base)
        s.san = net(3, 1, nn.Sigmoid(), a.base)

    def forward(s, x, c):
        c = (
            torch.as_tensor(c, dtype=x.dtype)
            .reshape(-1)
            .expand(len(x))
            .view(-1, 1, 1, 1)
            .expand(-1, 1, *x.shape[2:])
        )
        m = s.san(x)
        if a.attr_after:
            l1 = s.amn[0]
            w = l1.weight
            h = s.amn[1](F.conv2d(x, w[:, :3], l1.bias, padding=3)) + F.conv2d(
                c, w[:, 3:], padding=3
            )
            ia = s.amn[3:](F.relu(h))
        else:
            ia = s.amn(torch.cat([x, c], 1))
        return Out(ia * m + x * (1 - m), m)


class D(nn.Module):
    def __init__(s):
        super().__init__()
        L = []
        cin, c = 3, a.base
        for _ in range(6):
            L += [nn.Conv2d(cin, c, 4, 2, 1), nn.LeakyReLU(a.slope, True)]
            cin, c = c, 2 * c
        s.trunk = nn.Sequential(*L)
        s.src = nn.Conv2d(cin, 1, 3, 1, 1)
        s.cls = nn.Conv2d(cin, 1, a.size // 64)

    def forward(s, x):
        h = s.trunk(x)
        return s.src(h), s.cls(h).view(-1)


def init(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


g, d = G(), D()
g.apply(init)
d.apply(init)
go = torch.optim.Adam(g.parameters(), a.lr, (0.5, 0.999))
do = torch.optim.Adam(d.parameters(), a.lr, (0.5, 0.999))
train = SyntheticMarkDataset(2000, a.size, seed=a.seed)
held = SyntheticMarkDataset(200, a.size, seed=10_000 + a.seed)
perm, pos = torch.randperm(len(train)), 0


def batch():
    global perm, pos
    if pos + a.batch > len(perm):
        perm, pos = torch.randperm(len(train)), 0
    i = perm[pos : pos + a.batch]
    pos += a.batch
    return train.images[i], train.labels[i]


t0 = time.time()
acc = []
for step in range(1, a.steps + 1):
    g.train()
    d.train()
    for _ in range(3):
        x, c = batch()
        t = 1 - c
        with torch.no_grad():
            fake = g(x, t).image
        sr, cr = d(x)
        sf, _ = d(fake)
        al = torch.rand(len(x), 1, 1, 1)
        mix = (al * x + (1 - al) * fake).requires_grad_(True)
        (gr,) = torch.autograd.grad(d(mix)[0].sum(), mix, create_graph=True)
        gp = ((gr.flatten(1).norm(dim=1) - 1) ** 2).mean()
        dcls = F.binary_cross_entropy_with_logits(cr, c)
        dl = sf.mean() - sr.mean() + 10 * gp + dcls
        do.zero_grad()
        dl.backward()
        do.step()
    if not a.same_batch:
        x, c = batch()
        t = 1 - c
    for q in d.parameters():
        q.requires_grad_(False)
    if a.batched:
        both = g(torch.cat([x, x]), torch.cat([t, c]))
        n = len(x)
        fake = Out(both.image[:n], both.mask[:n])
        ident = both.image[n:]
        dual = g(fake.image, c).image
    else:
        fake = g(x, t)
        dual = g(fake.image, c).image
        ident = g(x, c).image
    sf, cf = d(fake.image)
    gcls = F.binary_cross_entropy_with_logits(cf, t)
    gl = -sf.mean() + gcls + 20 * (dual - x).abs().mean() + 100 * (ident - x).abs().mean()
    go.zero_grad()
    gl.backward()
    go.step()
    acc.append((gcls.item(), dcls.item()))
    for q in d.parameters():
        q.requires_grad_(True)
    if step % a.every == 0:
        s = synthetic_scores(g, held)
        print(
            json.dumps(
                {
                    "step": step,
                    "t": round(time.time() - t0),
                    **{k: round(v, 3) for k, v in s.items()},
                    "G/cls": round(gcls.item(), 3),
                    "D/cls": round(dcls.item(), 3),
                    "Gcls_mean": round(sum(u for u, _ in acc[-50:]) / len(acc[-50:]), 3),
                    "Dcls_mean": round(sum(v for _, v in acc[-50:]) / len(acc[-50:]), 3),
                    "W": round((sr.mean() - sf.mean()).item(), 3),
                    "mask": round(fake.mask.mean().item(), 3),
                }
            ),
            flush=True,
        )
