#!/usr/bin/env python3
"""check_refs.py — every reference in the repository resolves to a file in it.

Reads every file git knows in this checkout (tracked, or new and not ignored), as text, and
reports each reference that leads nowhere:

  - references to documents outside the repository: "spec §N", "DESIGN §N", "../shared/...",
    "shared/spec", "issue N" (an issue tracker is not in the repository);
  - a "§N" that does not follow a Markdown file of the repository with a heading numbered N;
  - section citations, `docs/api.md, "Counting requests"` (one or more quoted names after a
    Markdown file's name, as the code and docs cite sections): the file must exist and hold a
    heading that is, or begins with, each name (case and backquotes aside). Comment markers at
    the start of a line are ignored, so a citation may run over two lines of a comment;
  - Markdown links [text](target) in *.md files: the target must exist, and its #anchor, if any,
    must be a heading of the target;
  - paths under the repository's top folders (common/, services/, console/, tests/, bench/,
    docker/, docs/) mentioned anywhere: they must exist (globs and placeholders are skipped).

A line holding "check_refs: ignore" is skipped. Prints "path:line: what" for each problem and a
summary; exits 1 when there is any, 0 when there is none. Run from anywhere:
    python3 tests/check_refs.py
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SELF = os.path.relpath(os.path.abspath(__file__), ROOT)
TOP_DIRS = ("common", "services", "console", "tests", "bench", "docker", "docs")
SKIP_EXT = (".csv", ".png", ".jpg", ".gif", ".db", ".gz", ".tar", ".ico", ".pdf")
IGNORE = "check_refs: ignore"

OUTSIDE = [
    (re.compile(r"\bspec\s*\(?\s*§"), 'a section of a specification outside the repository '
     '(cite docs/api.md and a section name)'),
    (re.compile(r"\bDESIGN\b"), 'the design document outside the repository (cite docs/design.md '
     'and a section name)'),
    (re.compile(r"\.\./shared\b|\bshared/(?:spec|DESIGN|notes)\b|/work/shared\b"),
     'a file outside the repository'),
    (re.compile(r"\bissues?\s+#?\d+", re.I), 'an issue number (the tracker is not in the '
     'repository; say what the issue said, or cite docs/)'),
]
SECTION_SIGN = re.compile(r"(?:([\w./-]+\.md)`?\s*,?\s*)?§\s*(\d+(?:\.\d+)*)")
CITATION = re.compile(
    r"([\w./-]*[\w-]\.md)`?\]?(?:\([^)\s]*\))?\s*[,:]?\s*\(?"
    r'((?:"[^"\n]{1,80}"(?:\s*(?:,|;|and|or)\s*)?)+)')
QUOTED = re.compile(r'"([^"\n]{1,80})"')
MD_LINK = re.compile(r"\[([^\]\n]*)\]\(([^)\s]+)\)")
PATH = re.compile(r"(?<![\w./$@-])((?:%s)/[\w./-]*\w)" % "|".join(TOP_DIRS))
FENCE = re.compile(r"^\s*(```|~~~)")
COMMENT_LEAD = re.compile(r"^\s*(?:/\*+|\*+/?|//+|#+(?!\w)|\"\"\"|''')?\s*")


def repo_files():
    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], capture_output=True, check=True).stdout
        names = sorted({n for n in out.decode().split("\0") if n})
    except (OSError, subprocess.CalledProcessError):
        names = []
        for d, subdirs, files in os.walk(ROOT):
            subdirs[:] = [s for s in subdirs if not s.startswith(".") and s != "build"]
            names += [os.path.relpath(os.path.join(d, f), ROOT) for f in files]
    return [n for n in names if os.path.isfile(os.path.join(ROOT, n))]


def read_text(rel):
    try:
        with open(os.path.join(ROOT, rel), "rb") as f:
            data = f.read()
    except OSError:
        return None
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def norm(title):
    t = title.replace("`", "").replace("*", "").strip().lower()
    return re.sub(r"\s+", " ", t)


_headings = {}


def headings(rel):
    """The headings of a Markdown file (outside fenced code), normalised; None if no such file."""
    if rel not in _headings:
        text = read_text(rel) if os.path.isfile(os.path.join(ROOT, rel)) else None
        if text is None:
            _headings[rel] = None
        else:
            hs, fenced = [], False
            for line in text.split("\n"):
                if FENCE.match(line):
                    fenced = not fenced
                elif not fenced and re.match(r"#{1,6}\s", line):
                    hs.append(norm(line.lstrip("#")))
            _headings[rel] = hs
    return _headings[rel]


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    s = re.sub(r"[^\w\- ]", "", heading.lower())
    return s.replace(" ", "-")


def has_heading(hs, name):
    n = norm(name)
    for h in hs:
        if h == n or (h.startswith(n) and not h[len(n)].isalnum()):
            return True
    return False


def resolve_md(name, citing):
    """The repository path of a cited Markdown file: as written from the root, beside the citing
    file, or in docs/. None when there is none."""
    for cand in (name, os.path.normpath(os.path.join(os.path.dirname(citing), name)),
                 os.path.join("docs", name)):
        if os.path.isfile(os.path.join(ROOT, cand)):
            return os.path.normpath(cand)
    return None


def flatten(lines):
    """The text with each line's comment markers and indentation dropped and lines joined by one
    space, and for each character the line it came from."""
    parts, where = [], []
    for i, line in enumerate(lines, 1):
        body = COMMENT_LEAD.sub("", line, count=1) if i > 1 else line
        if parts:
            parts.append(" ")
            where.append(i)
        parts.append(body)
        where.extend([i] * len(body))
    return "".join(parts), where


STATS = {"citations": 0, "links": 0, "paths": 0}


def check_file(rel, text, problems):
    lines = text.split("\n")
    is_md = rel.endswith(".md")
    ignored = {i for i, line in enumerate(lines, 1) if IGNORE in line}

    def report(line, what):
        if line not in ignored:
            problems.append((rel, line, what))

    fenced = False
    for i, line in enumerate(lines, 1):
        if is_md and FENCE.match(line):
            fenced = not fenced
        for rx, what in OUTSIDE:
            for m in rx.finditer(line):
                report(i, f"{what}: {m.group(0)!r}")
        for m in SECTION_SIGN.finditer(line):
            target = resolve_md(m.group(1), rel) if m.group(1) else None
            hs = headings(target) if target else None
            num = m.group(2)
            if not hs or not any(h.startswith(num + ".") or h.startswith(num + " ") for h in hs):
                report(i, f"'§{num}' names no numbered heading of a file in the repository "
                          "(cite a file and a section name)")
        for m in PATH.finditer(line):
            p = m.group(1).rstrip(".")
            nxt = line[m.end():m.end() + 1]
            if nxt in ("*", "<", "{", "$") or p.endswith("/"):
                continue
            STATS["paths"] += 1
            # a program may be named without its source's ".c" (bench/writeload)
            full = os.path.join(ROOT, p)
            if not os.path.exists(full) and not os.path.isfile(full + ".c"):
                report(i, f"no such file or folder: {p}")
        if is_md and not fenced:
            for m in MD_LINK.finditer(line):
                target = m.group(2)
                if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):
                    continue
                STATS["links"] += 1
                path, _, anchor = target.partition("#")
                dest = os.path.normpath(os.path.join(os.path.dirname(rel), path)) if path else rel
                if not os.path.exists(os.path.join(ROOT, dest)):
                    report(i, f"link to a file that does not exist: {target}")
                elif anchor and dest.endswith(".md"):
                    hs = headings(dest) or []
                    if anchor not in {slug(h) for h in hs}:
                        report(i, f"link to a heading that does not exist: {target}")

    flat, where = flatten(lines)
    for m in CITATION.finditer(flat):
        line = where[min(m.start(), len(where) - 1)] if where else 1
        target = resolve_md(m.group(1), rel)
        if target is None:
            report(line, f"citation of a Markdown file that does not exist: {m.group(1)}")
            continue
        hs = headings(target)
        for q in QUOTED.findall(m.group(2)):
            STATS["citations"] += 1
            if not has_heading(hs, q):
                report(line, f'{target} has no section "{q}"')


def main():
    problems, checked = [], 0
    for rel in repo_files():
        if rel == SELF or rel.lower().endswith(SKIP_EXT):
            continue
        text = read_text(rel)
        if text is None:
            continue
        checked += 1
        check_file(rel, text, problems)
    for rel, line, what in sorted(set(problems)):
        print(f"{rel}:{line}: {what}")
    if problems:
        print(f"check_refs: {len(set(problems))} unresolved reference(s) in {checked} files")
        return 1
    print(f"check_refs: every reference resolves ({checked} files; {STATS['citations']} section "
          f"citations, {STATS['links']} links, {STATS['paths']} paths)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
