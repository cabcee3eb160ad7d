#!/usr/bin/env python3
"""Runs one of ../shared/reference/pytorch_*.py scripts with torch.manual_seed(SEED) in place of
the fixed seed it sets, so that PyTorch's side of a comparison can be repeated over seeds.

    python3 seeded.py SCRIPT SEED [the script's own arguments ...]

Nothing else changes: the script builds, trains and prints exactly as it does alone.
"""
import runpy
import sys

import torch

if len(sys.argv) < 3:
    sys.exit(__doc__)
script, seed = sys.argv[1], int(sys.argv[2])
_manual_seed = torch.manual_seed
torch.manual_seed = lambda _fixed: _manual_seed(seed)
sys.argv = [script, *sys.argv[3:]]
runpy.run_path(script, run_name="__main__")
