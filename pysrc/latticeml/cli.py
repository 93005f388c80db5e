"""The ``latticeml`` command: simulate, generate, train, reproduce, bench, info.

User errors (bad config, mismatched model, unknown target) print one line and exit 2, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from .errors import LatticeMLError


def _cmd_simulate(a) -> int:
    from .io.run import resume, simulate

    if a.resume:
        if a.config or a.out or a.overwrite:  # the run's own config.yaml decides; a second one would be ignored
            raise LatticeMLError("--resume RUN_DIR takes the run's saved config.yaml; drop CONFIG, --out and "
                                 "--overwrite")
        resume(a.resume, quiet=a.quiet)
    else:
        if not a.config or not a.out:
            raise LatticeMLError("simulate needs CONFIG and --out RUN_DIR (or --resume RUN_DIR)")
        simulate(a.config, a.out, quiet=a.quiet, overwrite=a.overwrite)
    return 0


def _cmd_generate(a) -> int:
    from .ml.data import generate_from_config

    generate_from_config(a.config, a.out)
    return 0


def _cmd_train(a) -> int:
    from .ml.train import train_from_config

    train_from_config(a.config, a.out, resume=a.resume)
    return 0


def _cmd_reproduce(a) -> int:
    from . import reproduce

    if a.list or not a.target:
        # every target with what it reproduces, and the last result found under --out (if any ran there)
        for t, status in reproduce.list_targets().items():
            print(f"{t:8s} {status:15s} {reproduce.describe(t)}")
            result = reproduce.last_result(t, a.out)
            if result:
                print(f"{'':24s} last run in {a.out}: {result}")
        return 0
    res = reproduce.run(a.target, quick=a.quick, out=a.out, seed=a.seed)
    print(json.dumps({k: res[k] for k in ("target", "quick", "seconds", "all_passed")}))
    for m in res["metrics"]:
        flag = {True: "PASS", False: "FAIL", None: "info"}[m["passed"]]
        value, target = (v.item() if hasattr(v, "item") else v for v in (m["value"], m["target"]))  # numpy scalars
        print(f"  [{flag}] {m['name']} = {value!r} (target {target!r}, {m['tolerance']})")
    return 0


def _cmd_bench(a) -> int:
    from . import bench

    bench.run(a.name, quick=a.quick)
    return 0


def info() -> dict:
    import numpy as np
    import scipy

    from . import __version__
    from .backends import backend_status
    from .backends.threads import blas_pools

    out = {
        "latticeml": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        "cpu_count": os.cpu_count(),
        "backends": backend_status(),
        # numpy and scipy may each bring a pool; small exact kernels run on one thread (latticeml.backends.threads)
        "blas": blas_pools(),
    }
    try:
        import torch

        out["torch"] = torch.__version__
        out["torch_threads"] = torch.get_num_threads()
        out["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        out["torch"] = None
        out["gpu"] = None
    return out


def _cmd_info(a) -> int:
    print(json.dumps(info(), indent=2))
    return 0


def _seed(text: str) -> int:
    """argparse type of --seed: an integer >= 0, checked before any work (numpy refuses negative seeds)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; use an integer >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="latticeml", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("simulate", help="run a simulation from a YAML config, or resume one")
    s.add_argument("config", nargs="?", help="YAML config file")
    s.add_argument("--out", help="run directory to create")
    s.add_argument("--resume", metavar="RUN_DIR", help="resume the run in RUN_DIR from its last checkpoint")
    s.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(fn=_cmd_simulate)

    g = sub.add_parser("generate", help="generate an ML training dataset from exact simulations")
    g.add_argument("config")
    g.add_argument("--out", required=True)
    g.set_defaults(fn=_cmd_generate)

    t = sub.add_parser("train", help="train an ML model on a dataset")
    t.add_argument("config")
    t.add_argument("--out", required=True)
    t.add_argument("--resume", action="store_true", help="resume from the last training checkpoint in --out")
    t.set_defaults(fn=_cmd_train)

    r = sub.add_parser("reproduce", help="reproduce a dissertation figure (writes DIR/TARGET/metrics.json)")
    r.add_argument("target", nargs="?")
    r.add_argument("--quick", action="store_true", help="CPU scale: minutes")
    r.add_argument("--out", default="reproduce-out")
    r.add_argument("--seed", type=_seed, default=0, help="random seed (integer >= 0; numpy's generators refuse "
                   "negative seeds)")
    r.add_argument("--list", action="store_true",
                   help="list the targets and the last result of each found under --out")
    r.set_defaults(fn=_cmd_reproduce)

    b = sub.add_parser("bench", help="run a benchmark and print JSON")
    b.add_argument("name")
    b.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")
    b.set_defaults(fn=_cmd_bench)

    i = sub.add_parser("info", help="versions, threads, backends, GPU")
    i.set_defaults(fn=_cmd_info)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except LatticeMLError as err:
        print(f"latticeml {args.command}: error: {err}", file=sys.stderr)
        return 2
    except MemoryError as err:  # e.g. lattice.L far beyond what exact diagonalisation can hold
        need = f" ({err})" if str(err) else ""
        print(f"latticeml {args.command}: error: out of memory{need}; use a smaller lattice or a cheaper method",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"latticeml {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
