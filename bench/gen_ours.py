#!/usr/bin/env python3
"""Write runner's pipeline.toml for the peer benchmark's shapes.

Uses ../shared/bench/gen_pipelines.py (the same steps, data and step.sh as DVC, Snakemake,
ninja and make get) and adds what runner needs: one parameter and one data reference per
step, `script = "step.sh"` (its digest is in every key, as step.sh is a dependency of
every peer's step), and one output folder per step holding the same file the peers write.

    gen_ours.py --shape chain --n 1000 --out DIR
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("PEER_BENCH", os.path.join(HERE, "..", "..", "shared", "bench"))
sys.path.insert(0, SHARED)
import gen_pipelines as g  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    steps = g.build_steps(a.shape, a.n)
    os.makedirs(a.out, exist_ok=True)
    g.write_common(a.out, a.shape, a.n, 0, 0, None)
    by_output = {s.output: s for s in steps}
    lines = ['[pipeline]\nname = "bench"\n\n[compute.local]\nmax_nodes = 2\n\n[parameters]\n']
    lines += [f"k_{s.name} = {s.k}\n" for s in steps]
    data = sorted({i for s in steps for i in s.inputs if i.startswith("data/")})
    for d in data:
        lines.append(f'\n[data.{os.path.basename(d).split(".")[0]}]\npath = "{d}"\n')
    for s in steps:
        inputs, args = [], []
        for j, i in enumerate(s.inputs):
            name = f"i{j}"
            if i in by_output:
                up = by_output[i]
                inputs.append(f'{name} = "steps.{up.name}.outputs.o"')
                args.append(f'"${{inputs.{name}}}/{os.path.basename(i)}"')
            else:
                inputs.append(f'{name} = "data.{os.path.basename(i).split(".")[0]}"')
                args.append(f'"${{inputs.{name}}}"')
        lines.append(
            f'\n[steps.{s.name}]\nscript = "step.sh"\n'
            f'arguments = ["${{outputs.o}}/{os.path.basename(s.output)}", "${{params.k_{s.name}}}", {", ".join(args)}]\n'
            f'inputs = {{ {", ".join(inputs)} }}\noutputs = ["o"]\n'
        )
    with open(os.path.join(a.out, "pipeline.toml"), "w") as f:
        f.write("".join(lines))


if __name__ == "__main__":
    main()
