"""The one door for showing text that came from outside: file metadata, log lines, server answers, Hub names.

Such text is data. Shown raw, it can act: an ESC starts a terminal escape sequence (colours, cursor
moves, an OSC 52 clipboard write, a title change), BEL rings, a carriage return overwrites the line
before it, the bidi controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C) make a terminal,
a browser or Qt show characters in another order than they are (CVE-2021-42574, "Trojan Source"),
and U+2028/U+2029 and newlines inside a one-line value start a line the value's neighbours did not
write (a model named "x\\n[ok] 1. Your quant is perfect" would forge a finding in `diagnose`'s output).

So every output format asks this module, and nothing else, how to show such text:

- `visible(text)`: a terminal, Qt plain text, a copy field's display — every such character shown as a
  visible escape (`\\x1b`, `\\u202e`); newlines and tabs kept (a log excerpt keeps its lines);
- `one_line(text)`: the same, and newlines and tabs shown as `\\n`, `\\t` too (a name, a path, a title,
  one evidence line);
- `html(text)`: `visible`, then HTML-escaped (the reports, the window's own HTML);
- `markdown(text)`, `markdown_code(text)`, `markdown_block(text)`: one line of literal Markdown text, a
  code span, a fenced block (nothing in the value can become markup or close its fence);
- `json_escapes(json_text)`: JSON already serialised, with such characters as JSON's `\\uXXXX`;
- `is_clean(text)`: whether a copy field may hold it (what is copied is pasted, so it is never altered:
  a text that is not clean is not offered for copying at all).

The escapes are the characters' code points, never a removal: what the person sees still says what the
file holds, and nothing in it is obeyed. tests/test_display_text.py feeds hostile values through every
output; tests/test_doors.py fails on escaping written anywhere else.
"""

from __future__ import annotations

import html as _html
import re

# Bidi formatting characters: embeddings and overrides, isolates, the marks, the Arabic letter mark.
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
LINE_SEPARATORS = "\u2028\u2029"  # (NEL, U+0085, is a C1 control)
_C0_BUT_LINES = "\x00-\x08\x0b-\x1f"  # every C0 control but tab (\x09) and newline (\x0a)
_C1_AND_DEL = "\x7f-\x9f"

_UNSAFE_IN_TEXT = re.compile(f"[{_C0_BUT_LINES}{_C1_AND_DEL}{BIDI}{LINE_SEPARATORS}]")
_UNSAFE_IN_LINE = re.compile(f"[\x00-\x1f{_C1_AND_DEL}{BIDI}{LINE_SEPARATORS}]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    if c in _NAMED:
        return _NAMED[c]
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def visible(value: object) -> str:
    """Text for a terminal or a plain-text widget: control, bidi and line-separator characters shown as
    escapes; newlines and tabs kept."""
    return _UNSAFE_IN_TEXT.sub(_escape, str(value))


def one_line(value: object) -> str:
    """A single-line value (a name, a path, a title, an evidence line): as `visible`, and a newline or a
    tab inside it shown as `\\n` / `\\t`, so it can never start a line of its own."""
    return _UNSAFE_IN_LINE.sub(_escape, str(value))


def has_unsafe(value: object, lines: bool = True) -> bool:
    """Whether `value` holds anything this module would escape (`lines`: newlines and tabs allowed)."""
    return (_UNSAFE_IN_TEXT if lines else _UNSAFE_IN_LINE).search(str(value)) is not None


def is_clean(value: object) -> bool:
    """Whether a copy field may hold `value` as it is: no control, bidi or separator character but the
    newlines and tabs of a multi-line copy. (A copy field is pasted, so it is never escaped.)"""
    return not has_unsafe(value)


def html(value: object, line: bool = False) -> str:
    """Text inside HTML (the reports, the window's own HTML): `visible` (or `one_line`), then escaped."""
    return _html.escape(one_line(value) if line else visible(value), quote=True)


# --- Markdown ---------------------------------------------------------------------------------------------
#
# Markdown passes raw HTML through (`<script>`, `<img onerror=...>` run in many viewers), and its own
# punctuation turns a name into a link or an image. `markdown` makes any value literal text on one line:
# HTML special characters become entities, Markdown punctuation is backslash-escaped, and a line break
# cannot start a new block. `markdown_code` puts a value in a code span no backtick in it can close.

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()!|~#+<>])")


def markdown(value: object) -> str:
    """One line of literal Markdown text."""
    text = one_line(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def markdown_code(value: object) -> str:
    """An inline code span holding `value` on one line."""
    text = one_line(value)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown_block(value: object, indent: str = "", info: str = "") -> str:
    """A fenced block (its lines and indentation kept: a model's output, a multi-line copy text) behind a
    fence longer than any run of tildes inside, every line at `indent`."""
    text = visible(value).replace("\t", "    ")
    longest = max((len(run) for run in re.findall(r"~+", text)), default=0)
    fence = "~" * max(3, longest + 1)
    body = "\n".join(indent + line for line in text.split("\n"))
    return f"{indent}{fence}{info}\n{body}\n{indent}{fence}"


# --- JSON -------------------------------------------------------------------------------------------------


def json_escapes(json_text: str) -> str:
    """Serialised JSON with every such character written as JSON's own `\\uXXXX` escape: the same JSON,
    nothing raw for a terminal. (Outside strings JSON holds none of them but newlines.)"""
    return _UNSAFE_IN_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", json_text)
