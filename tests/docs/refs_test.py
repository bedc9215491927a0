#!/usr/bin/env python3
"""refs_test.py: every reference in the repository can be followed inside
it (doc/contributing.md, rule 18). TAP.

Reads every text file of the source tree (build directories and logs,
.git, data/ and node_modules/ left out) and checks that:
  1. no file points at the team's working papers, which are not part of the
     repository (their names are assembled below, so this file does not
     match itself);
  2. every document named doc/<name>.md exists;
  3. every section title quoted after a document's name (as in
     `(doc/protocol.md, "Framed TCP")`) is a heading of that document, and
     every #anchor of a Markdown link into doc/ or the README exists;
  4. every number cited after doc/go-rules.md, every bare rule number
     ("(1.4d)") in a file that cites doc/go-rules.md, and every runtime test
     named test_N_M_ (test_N_M_x_ for a lettered item) is defined in
     doc/go-rules.md;
  5. every rule cited after doc/contributing.md is one of its house rules.
Comment continuations (' * ', '# ', '// ') are joined first, so a reference
may span lines.

usage: refs_test.py SOURCE_ROOT
"""
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else "."
SKIP_DIRS = {".git", "node_modules", "data", "__pycache__"}

# The working papers: named here in pieces, so that this file passes too.
PAPERS = [re.escape(n + ".md") for n in ("PROTOCOL", "ARCHITECTURE", "STYLE")]
FORBIDDEN = re.compile(r"\b(?:%s)|%s|\.\./%s/|\b%s ?\d" % (
    "|".join(PAPERS), "GO_" + "FACTS", "sha" + "red", "STY" + "LE"))

NUM = r"\d+(?:\.\d+)?(?:[a-z]\b|\s?\([a-z]\))?"
SEP = r"\s*(?:,|and|or|to|-|\u2013)\s*"
NUMLIST = r"(%s(?:%s%s)*)" % (NUM, SEP, NUM)
GO_CITE = re.compile(r"doc/go-rules\.md\)?(?:'s)?,?\s*(?:rules?\s+|sections?\s+)?" + NUMLIST)
HOUSE_CITE = re.compile(r"doc/contributing\.md\)?(?:'s)?,?\s*rules?\s+" + NUMLIST)
BARE_GO = re.compile(r"\(\s*(\d{1,2}\.\d{1,2}[a-z]?(?:\s*,\s*\d{1,2}\.\d{1,2}[a-z]?)*)\s*[):]")
TOKEN = re.compile(r"(\d+)(?:\.(\d+))?(?:([a-z])\b|\s?\(([a-z])\))?")
TEST_NAME = re.compile(r"\btest_(\d+)_(\d+)(?:_([a-z])_|_)")
DOC_NAME = re.compile(r"\bdoc/([A-Za-z0-9_-]+)\.md\b")
TITLE_CITE = re.compile(r"\bdoc/([A-Za-z0-9_-]+)\.md\)?(?:'s)?(?:,\s*|\s+)(?:section\s+)?"
                        r"\"([^\"\n]*\w[^\"\n]*)\"((?:\s*(?:,|and|or)\s*\"[^\"\n]+\")*)")
# inside doc/: [runtime.md](runtime.md), "Memory"
LOCAL_TITLE_CITE = re.compile(r"\[([A-Za-z0-9_-]+)\.md\]\(\1\.md\)(?:,\s*|\s+)\"([^\"\n]+)\""
                              r"((?:\s*(?:,|and|or)\s*\"[^\"\n]+\")*)")
MD_LINK = re.compile(r"\]\(([A-Za-z0-9_./-]*?)(?:#([^)\s]+))?\)")
CONTINUATION = re.compile(r"\n[ \t]*(?:\*(?!/)|//|#+|--)?[ \t]*")


def text_files():
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = sorted(d for d in dirnames
                             if d not in SKIP_DIRS and not d.startswith("build"))
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if name in SKIP_DIRS or (dirpath == ROOT and name.startswith("build")):
                continue  # .git as a file (worktrees); build logs
            try:
                with open(path, "rb") as f:
                    data = f.read(4 << 20)
            except OSError:
                continue
            if b"\0" in data[:8192]:
                continue
            rel = os.path.relpath(path, ROOT)
            yield rel, data.decode("utf-8", "replace")


def slug(title):
    """GitHub's anchor for a heading."""
    s = title.strip().lower().replace("`", "")
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def headings(text):
    """The headings of a Markdown text, outside code blocks."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            m = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
            if m:
                out.append(m.group(1).replace("`", ""))
    return out


def anchors(heads):
    seen, out = {}, set()
    for h in heads:
        s = slug(h)
        n = seen.get(s, 0)
        out.add(s if n == 0 else "%s-%d" % (s, n))
        seen[s] = n + 1
    return out


def has_title(heads, title):
    title = title.replace("`", "").strip()
    return any(h == title or h.startswith(title + " (") for h in heads)


def go_rules(text):
    """The numbers doc/go-rules.md defines: '1', '1.4', '1.4a', ..."""
    defined, rule = set(), None
    for line in text.splitlines():
        m = re.match(r"^##\s+(\d+)\.\s", line)
        if m:
            defined.add(m.group(1))
            rule = None
            continue
        m = re.match(r"^\*\*(\d+\.\d+)\b", line)
        if m:
            rule = m.group(1)
            defined.add(rule)
            continue
        m = re.match(r"^\s*-\s*\(([a-z])\)\s", line)
        if m and rule:
            defined.add(rule + m.group(1))
    return defined


def house_rules(text):
    return {m.group(1) for m in re.finditer(r"^###\s+(\d+)\.\s", text, re.M)}


def tokens(numlist):
    for m in TOKEN.finditer(numlist):
        num = m.group(1) + ("." + m.group(2) if m.group(2) else "")
        yield num + (m.group(3) or m.group(4) or "")


def main():
    files = dict(text_files())
    docs = {rel[4:-3]: text for rel, text in files.items()
            if rel.startswith("doc" + os.sep) and rel.endswith(".md") and rel.count(os.sep) == 1}
    heads = {name: headings(text) for name, text in docs.items()}
    go_defined = go_rules(docs.get("go-rules", ""))
    house_defined = house_rules(docs.get("contributing", ""))

    bad = {k: [] for k in ("papers", "docs", "titles", "go", "house")}
    for rel, text in sorted(files.items()):
        for n, line in enumerate(text.splitlines(), 1):
            for m in FORBIDDEN.finditer(line):
                bad["papers"].append("%s:%d: %s" % (rel, n, m.group(0)))
        flat = CONTINUATION.sub(" ", text)
        in_doc = rel.startswith("doc" + os.sep)
        for m in DOC_NAME.finditer(flat):
            if m.group(1) not in docs:
                bad["docs"].append("%s: doc/%s.md does not exist" % (rel, m.group(1)))
        cites = [(m.group(1), m.group(2), m.group(3)) for m in TITLE_CITE.finditer(flat)]
        if in_doc:
            cites += [(m.group(1), m.group(2), m.group(3))
                      for m in LOCAL_TITLE_CITE.finditer(flat)]
        for name, first, more in cites:
            if name not in docs:
                continue  # reported above
            for title in [first] + re.findall(r"\"([^\"]+)\"", more or ""):
                if not has_title(heads[name], title):
                    bad["titles"].append("%s: doc/%s.md has no section \"%s\"" % (rel, name, title))
        if in_doc or rel == "README.md":
            base = os.path.dirname(rel)
            for m in MD_LINK.finditer(text):
                target, anchor = m.group(1), m.group(2)
                if not anchor:
                    continue
                path = os.path.normpath(os.path.join(base, target)) if target else rel
                if not path.startswith("doc" + os.sep) and path != "README.md":
                    continue
                name = path[4:-3] if path.startswith("doc" + os.sep) else None
                known = anchors(heads[name]) if name in heads else (
                    anchors(headings(files.get(path, ""))))
                if anchor not in known:
                    bad["titles"].append("%s: %s has no anchor #%s" % (rel, path, anchor))
        cited = [t for m in GO_CITE.finditer(flat) for t in tokens(m.group(1))]
        if "doc/go-rules.md" in flat and rel.split(os.sep)[0] in ("runtime", "include", "tests"):
            cited += [t.replace(" ", "") for m in BARE_GO.finditer(flat)
                      for t in m.group(1).split(",")]
        if rel.startswith(os.path.join("tests", "runtime")):
            cited += [m.group(1) + "." + m.group(2) + (m.group(3) or "")
                      for m in TEST_NAME.finditer(text)]
        for t in sorted(set(cited)):
            if t not in go_defined:
                bad["go"].append("%s: doc/go-rules.md has no rule %s" % (rel, t))
        for m in HOUSE_CITE.finditer(flat):
            for t in tokens(m.group(1)):
                if t not in house_defined:
                    bad["house"].append("%s: doc/contributing.md has no rule %s" % (rel, t))

    cases = [
        ("papers", "no file points at the working papers outside the repository"),
        ("docs", "every doc/*.md named exists"),
        ("titles", "every cited section title and anchor exists"),
        ("go", "every Go rule cited, and every test_N_M_ name, is defined (%d rules "
               "in doc/go-rules.md)" % len(go_defined)),
        ("house", "every house rule cited is defined (%d rules in doc/contributing.md)"
                  % len(house_defined)),
    ]
    print("1..%d" % (len(cases) + 1))
    ok_files = len(files) > 100 and "protocol" in docs
    print("%s 1 - read %d files, %d documents in doc/" % ("ok" if ok_files else "not ok",
                                                          len(files), len(docs)))
    failed = not ok_files
    for i, (key, what) in enumerate(cases, 2):
        print("%s %d - %s" % ("not ok" if bad[key] else "ok", i, what))
        for b in bad[key][:50]:
            print("#   " + b)
        failed |= bool(bad[key])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
