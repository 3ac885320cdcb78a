#!/usr/bin/env python3
"""Execute notebooks headless with the "Rust (xcluster)" kernel; fail on any cell error.

    python kernel/run_notebooks.py [NOTEBOOK ...] [--out DIR] [--require-outputs]

Without notebook arguments it runs every notebooks/*.ipynb in name order. Each executed notebook
is written to DIR (default: target/notebooks) for inspection; the committed notebooks stay
without outputs. --require-outputs also fails a notebook whose outputs hold no image or no table.
Prints the wall time of every code cell, so the cost of the first `:dep xcluster` is visible.
"""
import argparse
import datetime
import pathlib
import sys
import time

import nbformat
from nbclient import NotebookClient

KERNEL = "xcluster"
REPO = pathlib.Path(__file__).resolve().parent.parent
# evcxr reports a cell that returns an Err through `?`, or panics, only as text on stderr, with the
# cell's status "ok". So every code cell prints a marker after its last statement, just before its
# final expression (which evcxr displays; wrapping it would change how it displays); a cell that
# shows no marker, or says "panicked at", failed. The marker goes to stdout, which also carries the
# displayed values: in our runs those always arrived with their cell, while stderr text from a
# short cell sometimes arrived after nbclient had moved on. The marker is removed from the outputs.
MARK = "__xcluster_cell_completed__"


# A statement that starts with one of these ends at its closing `}` without a `;`.
BLOCK_STATEMENTS = ("for ", "while ", "loop ", "loop{", "fn ", "pub fn ", "impl ", "impl<", "struct ", "enum ",
                    "mod ", "trait ", "macro_rules!")


def final_expression_start(code):
    """Index in `code` where its final expression begins (len(code) when it ends in a statement):
    just after the last `;` or block statement at bracket depth 0, skipping strings, chars and
    comments, so a final expression may span lines and hold blocks of its own."""
    depth, i, start, stmt = 0, 0, 0, 0
    while i < len(code):
        c = code[i]
        if code.startswith("//", i):
            i = code.find("\n", i)
            i = len(code) if i < 0 else i
            continue
        if c == '"':
            i += 1
            while i < len(code) and code[i] != '"':
                i += 2 if code[i] == "\\" else 1
        elif c == "'" and i + 2 < len(code) and (code[i + 2] == "'" or code[i + 1] == "\\"):
            i = code.find("'", i + 2)  # a char literal, not a lifetime
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0 and c == "}" and code[stmt:].lstrip().startswith(BLOCK_STATEMENTS):
                start = stmt = i + 1
        elif c == ";" and depth == 0:
            start = stmt = i + 1
        i += 1
    return start if code[start:].strip() else len(code)


def instrument(source):
    """The cell's code with the marker printed after its statements; None for evcxr commands
    (`:dep` ...), which are not Rust code."""
    code = source.rstrip()
    if not code.strip() or code.lstrip().startswith(":"):
        return None
    at = final_expression_start(code)
    return code[:at] + f'\nprintln!("{MARK}");\n' + code[at:]


def completed(cell):
    """Whether the instrumented cell printed the marker; strips the marker from its outputs."""
    seen, kept = False, []
    for o in cell.get("outputs", []):
        if o.output_type == "stream" and MARK in o.text:
            seen = True
            o.text = "".join(l for l in o.text.splitlines(keepends=True) if MARK not in l)
            if not o.text:
                continue
        kept.append(o)
    cell.outputs = kept
    return seen


def seconds(cell):
    """Wall time of an executed cell from nbclient's timing metadata, or None."""
    t = cell.get("metadata", {}).get("execution", {})
    try:
        start = datetime.datetime.fromisoformat(t["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.datetime.fromisoformat(t["shell.execute_reply"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    return (end - start).total_seconds()


def run(path, out_dir, require_outputs, cell_timeout):
    nb = nbformat.read(path, as_version=4)
    originals = {}
    for k, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (code := instrument(cell.source)) is not None:
            originals[k] = cell.source
            cell.source = code
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=cell_timeout,
        # The kernel's start-up build waits for cargo's lock on the shared build folder while another
        # build (tests, the main job) holds it: nbclient's default 60 s is too short for that.
        startup_timeout=cell_timeout,
        allow_errors=True,  # we report errors ourselves, with the compiler's full message
        resources={"metadata": {"path": str(path.parent)}},
    )
    t0 = time.monotonic()
    client.execute()
    total = time.monotonic() - t0
    silent = []
    for k, source in originals.items():
        cell = nb.cells[k]
        cell.source = source
        panicked = any(o.output_type == "stream" and "panicked at" in o.text for o in cell.outputs)
        if (not completed(cell) or panicked) and not any(o.output_type == "error" for o in cell.outputs):
            silent.append(k)
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_dir / path.name)
    errors, images, tables = [], 0, 0
    print(f"{path.name}: {total:.1f} s")
    for k, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
        s = seconds(cell)
        print(f"  cell {k:2d} {s if s is not None else float('nan'):8.1f} s  {first[:70]}")
        for o in cell.get("outputs", []):
            if o.output_type == "error":
                errors.append((k, o))
            data = o.get("data", {})
            images += "image/png" in data or "image/svg+xml" in data
            tables += "text/html" in data and "<table" in data["text/html"]
            if o.output_type == "stream" and o.name == "stderr" and "error" in o.text.lower():
                print("    stderr: " + o.text.strip().replace("\n", "\n    "))
    for k, o in errors:
        print(f"\nERROR in {path.name}, cell {k}: {o.get('ename', '')}: {o.get('evalue', '')}", file=sys.stderr)
        print("\n".join(o.get("traceback", [])), file=sys.stderr)
    for k in silent:
        text = "".join(o.get("text", "") for o in nb.cells[k].outputs if o.output_type == "stream")
        print(f"\nERROR in {path.name}, cell {k}: the cell stopped early (an Err from `?`, or a panic):", file=sys.stderr)
        print(text.strip() or "(no output)", file=sys.stderr)
    problems = [f"{len(errors) + len(silent)} cell error(s)"] if errors or silent else []
    if require_outputs and images == 0:
        problems.append("no image among the outputs")
    if require_outputs and tables == 0:
        problems.append("no table among the outputs")
    print(f"  {images} image(s), {tables} table(s)" + (f"; FAILED: {', '.join(problems)}" if problems else ""))
    # Cells that ended with no output at all, not even their marker, and nothing else wrong: what
    # evcxr's output arriving after the cell's reply looks like (one `use` cell in one of five
    # notebooks, in two runs on one machine). A real error there fails the second run too.
    lost_only = bool(silent) and not errors and len(problems) == 1 and not any(nb.cells[k].outputs for k in silent)
    return not problems, lost_only


def run_retrying_lost_output(path, out_dir, require_outputs, cell_timeout):
    """`run`, and once more where the only failure was a cell whose output never arrived."""
    ok, lost_only = run(path, out_dir, require_outputs, cell_timeout)
    if lost_only:
        print(f"{path.name}: a cell's output never arrived (no error, no output): running the notebook once more")
        ok, _ = run(path, out_dir, require_outputs, cell_timeout)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", type=pathlib.Path)
    ap.add_argument("--out", type=pathlib.Path, default=REPO / "target" / "notebooks")
    ap.add_argument("--require-outputs", action="store_true")
    ap.add_argument("--cell-timeout", type=int, default=3600, help="seconds per cell (a cold build is long)")
    args = ap.parse_args()
    paths = args.notebooks or sorted((REPO / "notebooks").glob("*.ipynb"))
    if not paths:
        sys.exit("no notebooks found")
    failed = [
        p.name
        for p in paths
        if not run_retrying_lost_output(p.resolve(), args.out, args.require_outputs, args.cell_timeout)
    ]
    if failed:
        sys.exit(f"notebooks failed: {', '.join(failed)}")
    print(f"all {len(paths)} notebook(s) ran without error")


if __name__ == "__main__":
    main()
