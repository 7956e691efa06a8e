"""The README's, notebooks' and docs' links into docs/*.md#section lead to a heading that exists."""
import glob
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = re.compile(r"\]\(([^()\s]*?)([\w.-]+\.md)#([^)\s]+)\)")


def github_slug(heading: str) -> str:
    """GitHub's anchor of a markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(path: str) -> set:
    with open(path) as fh:
        return {github_slug(m.group(1)) for m in re.finditer(r"^#+ (.*)$", fh.read(), re.M)}


def texts():
    yield "README.md", open(os.path.join(ROOT, "README.md")).read()
    for path in sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        yield os.path.relpath(path, ROOT), open(path).read()
    for path in sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb"))):
        with open(path) as fh:
            cells = json.load(fh)["cells"]
        yield os.path.relpath(path, ROOT), "".join("".join(c["source"]) for c in cells)


def test_github_slug():
    assert github_slug("How do the agents fail? Dead ends against time-outs (2026-11-27)") == \
        "how-do-the-agents-fail-dead-ends-against-time-outs-2026-11-27"
    assert github_slug("Box-count generalisation (Sec. 4.1 table): trained on 4 boxes") == \
        "box-count-generalisation-sec-41-table-trained-on-4-boxes"


def test_section_links_resolve():
    anchors = {os.path.basename(p): headings(p) for p in glob.glob(os.path.join(ROOT, "docs", "*.md"))}
    links = [(name, doc, anchor) for name, text in texts() for _, doc, anchor in LINK.findall(text)
             if doc in anchors]
    assert len(links) >= 6, links  # the README and notebook 06 link into docs/results.md
    broken = [link for link in links if link[2] not in anchors[link[1]]]
    assert not broken, broken
