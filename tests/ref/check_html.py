#!/usr/bin/env python3
"""Validates a dnas report page: html5lib's strict parser (the HTML5 parsing algorithm, any
parse error fails) over the whole page, and an XML parser over every inline <svg> (SVG is XML:
an unclosed or misnested element would render differently in different browsers).
Usage: check_html.py PAGE.html.  Exit 0 valid ("ok: N svg"), 1 invalid, 2 html5lib missing."""
import re
import sys
import xml.etree.ElementTree as ET

try:
    import html5lib
except ImportError:
    print("html5lib missing")
    sys.exit(2)


def main(path):
    text = open(path, encoding="utf-8").read()
    try:
        html5lib.HTMLParser(strict=True).parse(text)
    except html5lib.html5parser.ParseError as e:
        print(f"{path}: HTML parse error: {e}")
        return 1
    svgs = re.findall(r"<svg\b.*?</svg>", text, flags=re.S)
    for k, svg in enumerate(svgs):
        # HTML entities are not XML's: the page uses &middot; / &nbsp; only outside <svg>, and
        # inside it only the XML five, so any other entity here is an error too.
        try:
            ET.fromstring(svg)
        except ET.ParseError as e:
            print(f"{path}: svg #{k + 1} is not well-formed XML: {e}")
            return 1
    print(f"ok: {len(svgs)} svg")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
