#!/usr/bin/env python3
"""Reads the mutant specs of tests/mutants/*.mutant and applies or reverts one of them. Used by run.sh.

A spec is a small text file (not a diff, so that it survives code moving around it):

    # comment lines: what bug this is, and why it is realistic
    file: include/faceapp/stages/encode.hpp      the file to change, relative to the source tree
    build: test_parity                            CMake targets to build (space-separated)
    run: tests/stages/test_parity -tc=*upsample*  a command run in the build folder; one or more run: lines
    --- find
    the exact snippet, which must occur exactly once in the file (several lines allowed)
    --- replace
    what it becomes

`mutate.py list DIR` prints the spec files; `mutate.py show SPEC` prints its fields as shell assignments;
`mutate.py apply SPEC TREE` changes the file in TREE and fails loudly when the snippet is not found exactly once
(a stale mutant: the code it targets has moved or changed); `mutate.py restore SPEC SRC TREE` puts SRC's file
back into TREE with a new modification time (so that the build recompiles what the mutant touched);
`mutate.py copy SRC TREE` copies the files git knows of (tracked, and untracked but not ignored) from SRC to
TREE, leaving unchanged files untouched so that a second run rebuilds little.
"""
import filecmp
import pathlib
import shlex
import shutil
import subprocess
import sys


def copy_tree(src, dest):
    out = subprocess.run(["git", "-C", src, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         check=True, capture_output=True).stdout
    for rel in sorted(set(p for p in out.decode().split("\0") if p)):
        s, d = pathlib.Path(src) / rel, pathlib.Path(dest) / rel
        if not s.is_file():
            continue  # deleted in the working tree
        if d.is_file() and filecmp.cmp(s, d, shallow=False):
            continue
        d.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(s, d)


def parse(path):
    spec = {"name": pathlib.Path(path).stem, "file": None, "build": [], "run": [], "find": None, "replace": None}
    section = None
    blocks = {"find": [], "replace": []}
    for line in pathlib.Path(path).read_text().splitlines():
        if line.startswith("--- "):
            section = line[4:].strip()
            if section not in blocks:
                sys.exit(f"{path}: unknown section '--- {section}'")
            continue
        if section:
            blocks[section].append(line)
            continue
        if not line.strip() or line.startswith("#"):
            continue
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "file":
            spec["file"] = value
        elif key == "build":
            spec["build"] += value.split()
        elif key == "run":
            spec["run"].append(value)
        else:
            sys.exit(f"{path}: unknown field '{key}'")
    spec["find"] = "\n".join(blocks["find"])
    spec["replace"] = "\n".join(blocks["replace"])
    for field in ("file", "find"):
        if not spec[field]:
            sys.exit(f"{path}: no {field}")
    if not spec["build"] or not spec["run"]:
        sys.exit(f"{path}: needs build: and run: lines")
    if spec["find"] == spec["replace"]:
        sys.exit(f"{path}: the replacement equals the snippet")
    return spec


def main():
    cmd = sys.argv[1]
    if cmd == "list":
        for p in sorted(pathlib.Path(sys.argv[2]).glob("*.mutant")):
            print(p)
    elif cmd == "show":
        s = parse(sys.argv[2])
        print(f"mutant_name={shlex.quote(s['name'])}")
        print(f"mutant_file={shlex.quote(s['file'])}")
        print(f"mutant_build=({' '.join(shlex.quote(t) for t in s['build'])})")
        print(f"mutant_run=({' '.join(shlex.quote(r) for r in s['run'])})")
    elif cmd == "apply":
        s = parse(sys.argv[2])
        target = pathlib.Path(sys.argv[3]) / s["file"]
        if not target.is_file():
            sys.exit(f"STALE MUTANT {s['name']}: {s['file']} does not exist")
        text = target.read_text()
        count = text.count(s["find"])
        if count != 1:
            what = "snippet not found" if count == 0 else f"snippet found {count} times"
            sys.exit(f"STALE MUTANT {s['name']}: {what} in {s['file']}:\n{s['find']}")
        target.write_text(text.replace(s["find"], s["replace"]))
    elif cmd == "restore":
        s = parse(sys.argv[2])
        shutil.copyfile(pathlib.Path(sys.argv[3]) / s["file"], pathlib.Path(sys.argv[4]) / s["file"])
    elif cmd == "copy":
        copy_tree(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"usage: {sys.argv[0]} list DIR | show SPEC | apply SPEC TREE | restore SPEC SRC TREE | copy SRC TREE")


if __name__ == "__main__":
    main()
