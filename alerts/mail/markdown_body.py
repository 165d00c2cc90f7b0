"""An item's Markdown body rendered once into email-safe HTML blocks and plain-text blocks.

Only a small, safe subset of CommonMark is honoured: paragraphs, second- and
third-level headings, bold and italic, links (http, https and mailto only),
block quotes (spokesperson quotes), bullet and numbered lists. Raw HTML is never
passed through: the parser has it switched off, so ``<script>`` stays literal
text and is escaped like any other. Every other construct (images, code, rules)
is switched off in the parser and so stays plain text.

The HTML is built here from the syntax tree rather than by markdown-it's own
renderer so that text is escaped exactly as the templates escape it (markupsafe),
and a plain-paragraph body gives the very same ``<p>`` elements as before.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode
from markupsafe import Markup, escape

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
WIDTH = 76

# Styles written on the elements themselves: the email's own stylesheet (inlined
# by css-inline) only knows paragraphs, and mail clients drop <style> blocks.
_STYLES = {
    "h2": "font-size:20px;line-height:1.3;margin:24px 0 8px;",
    "h3": "font-size:17px;line-height:1.3;margin:20px 0 6px;",
    "blockquote": "margin:16px 0;padding:0 0 0 14px;border-left:3px solid #bbbbbb;color:#333333;",
    "ul": "margin:0 0 16px;padding:0 0 0 24px;",
    "ol": "margin:0 0 16px;padding:0 0 0 24px;",
    "li": "margin:0 0 6px;",
}


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable(["image", "code", "fence", "html_block", "html_inline", "hr", "backticks"])
    # Every link is parsed, so that an unsafe one can be shown as its label alone
    # (the renderer drops its address); markdown-it's own check would leave the
    # raw "[label](javascript:…)" in the text instead.
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    return md


_MD = _parser()


def safe_href(url: str) -> str | None:
    """The address when its scheme is http, https or mailto; otherwise None."""
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in SAFE_SCHEMES else None


@dataclass(frozen=True)
class RenderedBody:
    """HTML blocks (markup-safe) and text blocks, plus the text part's link references."""

    html: list[Markup] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)


class _Renderer:
    def __init__(self, first_reference: int = 1) -> None:
        self.references: list[str] = []
        # Notes to editors number their links on from the body's (and the documents').
        self.first_reference = first_reference

    # -- HTML ---------------------------------------------------------------
    def html_inline(self, node: SyntaxTreeNode) -> str:
        out: list[str] = []
        for child in node.children:
            kind = child.type
            if kind == "text":
                out.append(str(escape(child.content)))
            elif kind == "softbreak":
                out.append("\n")
            elif kind == "hardbreak":
                out.append("<br>\n")
            elif kind == "strong":
                out.append(f"<strong>{self.html_inline(child)}</strong>")
            elif kind == "em":
                out.append(f"<em>{self.html_inline(child)}</em>")
            elif kind == "link":
                href = safe_href(str(child.attrs.get("href", "")))
                label = self.html_inline(child)
                out.append(f'<a href="{escape(href)}">{label}</a>' if href else label)
            else:  # anything else switched off still carries its text
                out.append(
                    self.html_inline(child) if child.children else str(escape(child.content))
                )
        return "".join(out)

    def html_block(self, node: SyntaxTreeNode) -> str:
        kind = node.type
        if kind == "paragraph":
            return f"<p>{self.html_inline(node.children[0])}</p>"
        if kind == "heading":
            tag = "h2" if node.tag in ("h1", "h2") else "h3"
            return f'<{tag} style="{_STYLES[tag]}">{self.html_inline(node.children[0])}</{tag}>'
        if kind == "blockquote":
            inner = "\n".join(self.html_block(c) for c in node.children)
            return f'<blockquote style="{_STYLES["blockquote"]}">\n{inner}\n</blockquote>'
        if kind in ("bullet_list", "ordered_list"):
            tag = "ul" if kind == "bullet_list" else "ol"
            start = node.attrs.get("start")
            first = f' start="{int(start)}"' if kind == "ordered_list" and start else ""
            items = "\n".join(self._html_item(c) for c in node.children)
            return f'<{tag}{first} style="{_STYLES[tag]}">\n{items}\n</{tag}>'
        return str(escape(node.content))

    def _html_item(self, node: SyntaxTreeNode) -> str:
        # A tight list's paragraphs are hidden: their text goes straight into <li>.
        parts = [
            self.html_inline(c.children[0])
            if c.type == "paragraph" and c.hidden
            else self.html_block(c)
            for c in node.children
        ]
        return f'<li style="{_STYLES["li"]}">{"".join(parts)}</li>'

    # -- text ---------------------------------------------------------------
    def text_inline(self, node: SyntaxTreeNode) -> str:
        out: list[str] = []
        for child in node.children:
            kind = child.type
            if kind == "text":
                out.append(child.content)
            elif kind in ("softbreak", "hardbreak"):
                out.append("\n")
            elif kind == "strong":
                out.append(f"*{self.text_inline(child)}*")
            elif kind == "em":
                out.append(f"_{self.text_inline(child)}_")
            elif kind == "link":
                href = safe_href(str(child.attrs.get("href", "")))
                label = self.text_inline(child)
                if href is None:
                    out.append(label)
                else:
                    self.references.append(href)
                    out.append(f"{label} [{self.first_reference + len(self.references) - 1}]")
            else:
                out.append(self.text_inline(child) if child.children else child.content)
        return "".join(out)

    def text_block(self, node: SyntaxTreeNode, width: int = WIDTH) -> str:
        kind = node.type
        if kind == "paragraph":
            return wrap(self.text_inline(node.children[0]), width)
        if kind == "heading":
            title = wrap(self.text_inline(node.children[0]), width)
            # "=" is the item title's; every heading of the body is under it.
            return f"{title}\n{'-' * min(len(title.splitlines()[-1]), width)}"
        if kind == "blockquote":
            inner = "\n\n".join(self.text_block(c, width - 2) for c in node.children)
            return "\n".join(f"> {line}".rstrip() for line in inner.splitlines())
        if kind in ("bullet_list", "ordered_list"):
            start = int(node.attrs.get("start") or 1)
            entries = []
            for number, entry in enumerate(node.children, start=start):
                mark = "*" if kind == "bullet_list" else f"{number}."
                pad = len(mark) + 1
                inner = "\n".join(self.text_block(c, width - pad) for c in entry.children)
                lines = inner.splitlines() or [""]
                entries.append(
                    "\n".join(
                        [f"{mark} {lines[0]}"]
                        + [f"{' ' * pad}{line}".rstrip() for line in lines[1:]]
                    )
                )
            return "\n".join(entries)
        return wrap(node.content, width)


def wrap(text: str, width: int = WIDTH) -> str:
    """As the templates' ``wrap``: each line on its own, never inside a word or a link."""
    return "\n".join(
        "\n".join(
            textwrap.wrap(
                line,
                width=width,
                expand_tabs=False,
                replace_whitespace=False,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
        for line in text.splitlines()
    )


def render_body(source: str, first_reference: int = 1) -> RenderedBody:
    """The body's blocks as HTML and as text, once per item and language; the text's
    link references are numbered from ``first_reference``."""
    tree = SyntaxTreeNode(_MD.parse(source))
    html_renderer, text_renderer = _Renderer(), _Renderer(first_reference)
    html = [Markup(html_renderer.html_block(node)) for node in tree.children]
    text = [text_renderer.text_block(node) for node in tree.children]
    return RenderedBody(html=html, text=text, references=text_renderer.references)
