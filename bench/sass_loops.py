#!/usr/bin/env python3
"""The inner loops of a CUDA kernel, read off its SASS: no GPU, no timing.

Input is one kernel's listing as `nvdisasm -c` prints it (what
scripts/kernel-stats.sh --loops passes for each kernel). A loop is a
backward branch: a BRA whose target label is at or before it; its body is
the instructions from the target to the branch. An inner loop is one that
holds no other. For each inner loop that does math (any tensor-core HMMA,
or at least 8 fp32/fp16 FMAs on the CUDA cores: fewer are index arithmetic
in a staging loop) it counts the instructions by kind, and
the share of them that are math: in a loop bound by instruction issue,
the rest is what stands between the math units and their peak.

These are counts of instructions in the code, once per iteration of the
loop as written (after the compiler's unrolling), not of instructions
executed, and say nothing measured about speed (docs/benchmarks.md).

Usage: python3 bench/sass_loops.py LISTING [--name NAME] [--header] [--all]
Prints Markdown table rows. Standard library only.
"""

from __future__ import annotations

import argparse
import re
import sys

INSTRUCTION = re.compile(r"^\s+/\*([0-9a-f]+)\*/\s+(.*?)\s*;")
LABEL = re.compile(r"^\s*(\.L_x_\d+):")
BRANCH = re.compile(r"\bBRA\b.*`\((\.L_x_\d+)\)")

# Kinds of instruction counted, by opcode (the word after any predicate).
KINDS = {
    "HMMA": lambda op: op.startswith("HMMA"),
    "FMA": lambda op: op.split(".")[0] in ("FFMA", "HFMA2"),
    "shared loads": lambda op: op.startswith(("LDS", "LDSM")),
    "global loads": lambda op: op.startswith(("LDG", "LDGSTS")),
    "MOVM": lambda op: op.startswith("MOVM"),
    "local": lambda op: op.startswith(("LDL", "STL")),
    "barriers": lambda op: op.startswith("BAR"),
}
MIN_FMAS = 8  # an inner loop with fewer FMAs and no HMMA is not listed
COLUMNS = ["kernel", "loop (SASS offsets)", "instructions"] + list(KINDS) + ["math share"]


def opcode(text: str) -> str:
    """The opcode of an instruction's text, without its predicate."""
    words = text.split()
    if words and words[0].startswith("@"):
        words = words[1:]
    return words[0] if words else ""


def parse(listing: str) -> tuple[list[tuple[int, str]], dict[str, int]]:
    """The (address, text) of each instruction, and each label's address."""
    instructions, labels, pending = [], {}, []
    for line in listing.splitlines():
        label = LABEL.match(line)
        if label:
            pending.append(label.group(1))
            continue
        ins = INSTRUCTION.match(line)
        if not ins:
            continue
        address = int(ins.group(1), 16)
        instructions.append((address, ins.group(2)))
        for name in pending:
            labels[name] = address
        pending = []
    return instructions, labels


def loops(listing: str) -> list[dict]:
    """Every loop (backward branch): its first and last address, whether it
    is an inner loop, and its instructions counted by kind."""
    instructions, labels = parse(listing)
    spans = []
    for address, text in instructions:
        branch = BRANCH.search(text)
        if branch and labels.get(branch.group(1), address + 1) <= address:
            spans.append((labels[branch.group(1)], address))
    spans = sorted(set(spans))
    found = []
    for start, end in spans:
        body = [opcode(text) for address, text in instructions if start <= address <= end]
        counts = {kind: sum(1 for op in body if test(op)) for kind, test in KINDS.items()}
        inner = not any(s != (start, end) and start <= s[0] and s[1] <= end for s in spans)
        found.append({"start": start, "end": end, "inner": inner, "instructions": len(body),
                      "counts": counts})
    return found


def rows(listing: str, name: str, every: bool = False) -> list[str]:
    """Markdown rows: the inner loops that do math (every loop with --all)."""
    out = []
    for loop in loops(listing):
        c = loop["counts"]
        math = c["HMMA"] + c["FMA"]
        if not every and (not loop["inner"] or (c["HMMA"] == 0 and c["FMA"] < MIN_FMAS)):
            continue
        cells = [name, f"{loop['start']:#x}-{loop['end']:#x}", str(loop["instructions"])]
        cells += [str(c[kind]) for kind in KINDS]
        cells.append(f"{100 * math / loop['instructions']:.0f}%")
        out.append("| " + " | ".join(cells) + " |")
    return out


def header() -> list[str]:
    return ["| " + " | ".join(COLUMNS) + " |",
            "|---|---|" + "---:|" * (len(COLUMNS) - 2)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("listing", help="one kernel's SASS, as nvdisasm -c prints it")
    parser.add_argument("--name", default="kernel", help="the kernel's name in the rows")
    parser.add_argument("--header", action="store_true", help="print the table's header first")
    parser.add_argument("--all", action="store_true", help="every loop, not only inner math loops")
    args = parser.parse_args(argv)
    try:
        with open(args.listing, encoding="utf-8") as f:
            listing = f.read()
    except OSError as e:
        print(f"sass_loops: {e}", file=sys.stderr)
        return 1
    for line in (header() if args.header else []) + rows(listing, args.name, args.all):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
