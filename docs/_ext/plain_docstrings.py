"""Render relunet's docstrings, which are laid out for ``help()``, faithfully in Sphinx.

A docstring with numpydoc section headers (a title underlined by dashes) is left to numpydoc.
In every other docstring, a paragraph whose lines are aligned by hand (a hanging indent, or
columns separated by runs of spaces) is shown as preformatted text, as ``help()`` shows it, with
inline markup reduced to its text; prose paragraphs stay reStructuredText, their ``|`` escaped
(``|z|`` is an absolute value there, not a substitution).
"""

import re

_SECTION_RULE = re.compile(r"^\s*-{3,}\s*$")
_COLUMNS = re.compile(r"\S {3,}\S")
_ROLE = re.compile(r":[a-z:]+:`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def setup(app):
    app.connect("autodoc-process-docstring", plain_docstring, priority=400)  # before numpydoc
    return {"parallel_read_safe": True}


def plain_docstring(app, what, name, obj, options, lines):
    if not any(_SECTION_RULE.match(line) for line in lines):
        _plain(lines)
    if lines and lines[-1].strip():
        lines.append("")  # numpydoc appends a comment to a module's docstring: it needs a blank line


def _plain(lines):
    out = []
    for paragraph in _paragraphs(lines):
        if out:
            out.append("")
        out.extend(_preformatted(paragraph) if _aligned(paragraph) else [_escape_bars(s) for s in paragraph])
    lines[:] = out


def _paragraphs(lines):
    paragraph = []
    for line in lines:
        if line.strip():
            paragraph.append(line)
        elif paragraph:
            yield paragraph
            paragraph = []
    if paragraph:
        yield paragraph


def _aligned(paragraph):
    indents = {len(s) - len(s.lstrip()) for s in paragraph}
    return len(indents) > 1 or any(_COLUMNS.search(s) for s in paragraph)


def _preformatted(paragraph):
    return ["::", ""] + ["    " + _LITERAL.sub(r"\1", _ROLE.sub(r"\1", s)) for s in paragraph]


def _escape_bars(line):
    parts = re.split(r"(``[^`]+``)", line)
    return "".join(p if p.startswith("``") else p.replace("|", r"\|") for p in parts)
