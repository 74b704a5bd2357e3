"""Plain text from SWORD modules exported by mod2imp (libsword-utils).

mod2imp writes one record per verse key: a line "$$$<key>" followed by the raw OSIS markup of the
verse. We strip the markup ourselves rather than use `mod2imp -s`, because -s deletes footnotes
without leaving the space they displaced ("Godcreated") and keeps no control over headings.
"""
import re
import subprocess

KEY_RE = re.compile(r"^(?P<book>.+) (?P<chap>\d+):(?P<verse>\d+)$")

# Editorial material that is not verse text: footnotes (may hold nested <reference>, <rdg>,
# <catchWord>) and section headings. Canonical psalm superscriptions are kept: they are scripture.
NOTE_RE = re.compile(r"<note\b[^>]*>.*?</note>", re.S)
TITLE_RE = re.compile(r"<title\b(?P<attrs>[^>]*)>(?P<body>.*?)</title>", re.S)
# Milestones that separate words (poetry lines, paragraphs, line breaks) become a space;
# inline wrappers (<w>, <q>, <transChange>, ...) vanish without one.
BREAK_RE = re.compile(r"<(?:l|lg|lb|div|p|chapter|verse|milestone|item|list)\b[^>]*/?>|</(?:l|lg|p|div|item|list)>")
TAG_RE = re.compile(r"<[^>]*>")
# The last verse of a book carries whatever the module puts after the book (WEB: its glossary,
# 17 kB appended to Revelation 22:21); nothing after the book's closing milestone is verse text.
BOOK_END_RE = re.compile(r"<div\b[^>]*\beID=[^>]*\btype=\"book\"[^>]*/>")
GAP = "\x00"


def _title(m):
    return " " + m.group("body") + " " if 'canonical="true"' in m.group("attrs") else GAP


def strip_osis(markup):
    """Verse text of one OSIS fragment, whitespace collapsed, entities decoded."""
    end = BOOK_END_RE.search(markup)
    if end:
        markup = markup[:end.start()]
    s = NOTE_RE.sub(GAP, markup)
    s = TITLE_RE.sub(_title, s)
    s = BREAK_RE.sub(" ", s)
    s = TAG_RE.sub("", s)
    # A removed note sat between two words with no space of its own; elsewhere it leaves nothing.
    s = re.sub(r"(?<=\w)" + GAP + r"+(?=\w)", " ", s)
    s = s.replace(GAP, "")
    s = (s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
          .replace("&apos;", "'").replace("&amp;", "&"))
    s = s.replace("\t", " ")
    return re.sub(r"\s+", " ", s).strip()


def read_imp(text):
    """[(key, markup)] in module order; keys that are not 'Book C:V' (module/testament headings)
    are dropped, and so are chapter 0 and verse 0 (book and chapter introductions)."""
    out = []
    key, buf = None, []
    for line in text.split("\n"):
        if line.startswith("$$$"):
            if key is not None:
                out.append((key, "\n".join(buf)))
            key, buf = line[3:].strip(), []
        else:
            buf.append(line)
    if key is not None:
        out.append((key, "\n".join(buf)))
    kept = []
    for k, m in out:
        km = KEY_RE.match(k)
        if km and int(km.group("chap")) > 0 and int(km.group("verse")) > 0:
            kept.append((k, m))
    return kept


def verses(imp_text):
    """[(key, plain text)] with empty verses dropped."""
    res = []
    for k, m in read_imp(imp_text):
        t = strip_osis(m)
        if t:
            res.append((k, t))
    return res


def export_module(module):
    """Raw imp text of an installed SWORD module (mod2imp writes it to stdout)."""
    try:
        p = subprocess.run(["mod2imp", module], check=True, capture_output=True)
    except FileNotFoundError:
        raise SystemExit("mod2imp not found: install libsword-utils (bash scripts/setup.sh)")
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"mod2imp {module} failed ({e.returncode}); is the SWORD module installed? "
                         "(bash scripts/setup.sh installs sword-text-web and sword-text-sparv)")
    text = p.stdout.decode("utf-8", errors="replace")
    if "$$$" not in text:
        raise SystemExit(f"mod2imp {module} produced no verses; install it with bash scripts/setup.sh")
    return text
