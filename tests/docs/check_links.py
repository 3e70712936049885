"""docs_links: the documentation names only what exists.

1. Links. Every Markdown link `[text](target)` or `![alt](target)` outside code blocks, in README.md, docs/*.md
   and the other .md files of the repository, whose target is relative (not http:, https: or mailto:), names a
   file or folder that exists, relative to the page; a `#fragment` on a .md target (or alone) names one of that
   page's headings, spelled as GitHub spells heading anchors.
2. Paths. In those pages (code blocks included) and in the comments of the C++ files under include/, src/ and
   examples/, a repository path is a word that starts with one of the top-level folders below, is not part of a
   longer path or a URL, and either ends in `/` (a folder) or whose last part has an extension (`.hpp`, `.py`,
   ...). Its text stops at a character that cannot be in a path here (space, quote, `*`, `<`, `{`, `$`, ...),
   and a trailing `.`, `,`, `:`, `;` or `)` is not part of it. A word without an extension (a built program
   such as tests/stages/test_parity, a folder named without its slash) is not checked; `$PWD/` in front of a
   path is read as the repository's root.

Usage: python3 tests/docs/check_links.py [REPOSITORY_ROOT]   (default: two folders up from this file)
"""

import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
TOP = ("include", "src", "examples", "tests", "bench", "deploy", "cmake", "tools", "docs")
PATH = re.compile(r"(?<![\w./-])((?:%s)/[\w./+-]*)" % "|".join(TOP))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
SKIP_DIRS = {".git", "node_modules", "__pycache__"}

problems = []


def pages():
    for d, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS and not x.startswith(("build", ".")))
        if os.path.relpath(d, ROOT).startswith(os.path.join("tests", "data")):
            continue  # the test data's own notes, about its sources
        for f in sorted(files):
            if f.endswith(".md"):
                yield os.path.join(d, f)


def anchors(md_path, cache={}):
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces as '-', repeats numbered."""
    if md_path not in cache:
        seen, out, fenced = {}, set(), False
        for line in open(md_path, encoding="utf-8"):
            if line.startswith("```"):
                fenced = not fenced
            m = None if fenced else re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
            if m:
                slug = re.sub(r"[^\w\- ]", "", m.group(1).lower().replace("`", "")).replace(" ", "-")
                n = seen.get(slug, 0)
                seen[slug] = n + 1
                out.add(slug if n == 0 else f"{slug}-{n}")
        cache[md_path] = out
    return cache[md_path]


def check_path(token, where):
    token = token.rstrip(".,:;)")
    last = token.rstrip("/").rsplit("/", 1)[-1]
    if not token.endswith("/") and "." not in last.strip("."):
        return
    if not os.path.exists(os.path.join(ROOT, token)):
        problems.append(f"{where}: names {token}, which does not exist")


def check_page(md):
    rel = os.path.relpath(md, ROOT)
    fenced = False
    for n, line in enumerate(open(md, encoding="utf-8"), 1):
        where = f"{rel}:{n}"
        if line.startswith("```"):
            fenced = not fenced
        for token in PATH.findall(line.replace("$PWD/", " ")):
            check_path(token, where)
        if fenced:
            continue
        for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
            if re.match(r"(https?|mailto):", target):
                continue
            file, _, fragment = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(md), file)) if file else md
            if not os.path.exists(dest):
                problems.append(f"{where}: link to {target}: {os.path.relpath(dest, ROOT)} does not exist")
            elif fragment and dest.endswith(".md") and fragment not in anchors(dest):
                problems.append(f"{where}: link to {target}: no heading #{fragment} in {os.path.relpath(dest, ROOT)}")


COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


def check_source(path):
    rel = os.path.relpath(path, ROOT)
    text = open(path, encoding="utf-8", errors="replace").read()
    for m in COMMENT.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        for token in PATH.findall(m.group(0).replace("$PWD/", " ")):
            check_path(token, f"{rel}:{line}")


count = 0
for md in pages():
    check_page(md)
    count += 1
for top in ("include", "src", "examples"):
    for d, dirs, files in os.walk(os.path.join(ROOT, top)):
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS)
        for f in sorted(files):
            if f.endswith((".hpp", ".cpp", ".h", ".cc")):
                check_source(os.path.join(d, f))
                count += 1

for p in problems:
    print(p)
print(f"{count} files checked, {len(problems)} problems")
sys.exit(1 if problems else 0)
