#!/usr/bin/env python3
"""Writes tests/DreamBooth.Tests/Text/text_reference.json: ftfy.fix_text / is_bad results of the real ftfy 6.3.1 and
unicodedata.normalize("NFC") results of CPython 3.11 (Unicode 14.0.0), on fixed-seed inputs.

Usage: PYTHONPATH=<python-ftfy v6.3.1 checkout>:<dir with a wcwidth stub> python3 tools/gen_text_reference.py FTFY_TEST_CASES_JSON
where FTFY_TEST_CASES_JSON is python-ftfy's tests/test_cases.json (its 'original' strings are used as inputs).
"""
import json
import os
import random
import sys
import unicodedata

import ftfy
from ftfy.badness import is_bad

assert ftfy.__version__ == "6.3.1" and unicodedata.unidata_version == "14.0.0"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
rng = random.Random(20240611)

inputs = [c["original"] for c in json.load(open(sys.argv[1], encoding="utf-8"))]
inputs += [
    "&amp;\n<html>\n&amp;", "&lt;&gt;", "jednocze&sacute;nie", "JEDNOCZE&Sacute;NIE", "ellipsis&#133;", "broken&#x81;",
    "&amp;amp;amp;", "euro &#x80;", "EURO &EURO;", "not an entity &#20x6;", "V&SCARON;ICHNI", "&#xffff;", "&#xffffffff;",
    "this is just informal english &not html", "&#59; &#x3b; &#0; &#00000000000000000065; &#12ab; &#x; &Jscr;ohn",
    "\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33", "\uff35\uff80\uff70\uff9d", "\x1b[36;44mI'm blue\x1b[0m",
    "a\r\nb\rc\u2028d\u2029e\x85f", "\ufeffbom\x00nul\x7f", "\ufb02u\ufb03e\ufb06 \u0132 \u01c6", "\u2018q\u2019 \u201cdq\u201d \u201bx\u201f \u02bc",
    "\u00c3 la mode", "voil\u00c3 le travail", "caf\u00c3\u00a9\n<b>&amp;</b>\n&amp;", "\u00c3\u00a9\u00c0\n",
]
words = ["caf\u00e9", "na\u00efve", "Stra\u00dfe", "\u010ce\u0161tina", "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac", "\u0440\u0443\u0441\u0441\u043a\u0438\u0439",
         "\u65e5\u672c\u8a9e", "\ud55c\uad6d\uc5b4", "\u201csmart\u201d", "don\u2019t", "\u2026", "\u2014", "\u20ac5", "\u00bd", "\u00f1and\u00fa",
         "\u011f\u00fc\u015f\u0131\u00f6\u00e7", "Za\u017c\u00f3\u0142\u0107 g\u0119\u015bl\u0105", "\U0001f600 emoji", "\u00e0 la mode", "\u00c5lesund",
         "S\u00e3o Paulo", "\u0639\u0631\u0628\u064a", "\u0939\u093f\u0928\u094d\u0926\u0940", "\u00c0\u00c9\u00ce\u00d5\u00dc", "\u2122\u00ae\u00a9", "x\u00b0C", "\u00b5m", "\u00b11"]
encodings = ["latin-1", "windows-1252", "windows-1251", "windows-1250", "windows-1253", "windows-1254", "windows-1257", "iso-8859-2",
             "macroman", "cp437", "sloppy-windows-1252", "sloppy-windows-1251"]
while len(inputs) < 900:
    text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
    try:
        text = text.encode("utf-8").decode(rng.choice(encodings), errors=rng.choice(["replace", "ignore", "strict"]))
    except UnicodeDecodeError:
        continue
    if rng.random() < 0.3:
        text = text.replace("\xa0", " ")
    if rng.random() < 0.2:
        text = rng.choice(words) + " " + text
    if rng.random() < 0.1:
        text = text.encode("utf-8").decode("latin-1")
    inputs.append(text)
pool = ("\u00c2\u00c3\u00ce\u00d0\u00d8\u00d9\u00e0\u00e2\u00f3\u00e4\u00ea\u00b0\u00a2\u20ac\u0153\u0160\u0161\u0178\u017e\xa0\xad\u00ae\u00a9\u00b7"
        "\u00bb\u2013\u2014\u00b4\u00b2\u00b3\u00b5\u00b9\u00bc\u00bd\u00be\u221a\u00b1\u2202\u2020\u2260\u2122\u2264\u2265\u00a5\u00f8\u03c0\u2248"
        "\u201a\u00c4\u0432\u0402\u0412\u0413\u0420\u0421\u03b2\u0392\u0393\u039e\u039f\u0101\x80\x85\x9f abcXYZ.,?!'\"\u00c5\u00c6\u00c7\u00c8\u00c9"
        "\u00a1\u00bf\u00a7\u00b6\u00ab\u00ac\u2502\u250c\u2550\u256c\u2580\u2584\u2588\u00d2\u00d3\u00d4\u00d5\u00d6\u00da\u00db\u00dc\u00f2\u00f4\u00f5\u00f6\u00f9\u00fa\u00fb\u00fc")
while len(inputs) < 1500:
    inputs.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 8))))

nfc_inputs = []
for cp in range(0x110000):
    if 0xD800 <= cp <= 0xDFFF:
        continue
    d = unicodedata.decomposition(chr(cp))
    if d and not d.startswith("<"):
        nfc_inputs.append(unicodedata.normalize("NFD", chr(cp)))
marks = [chr(c) for c in range(0x300, 0x370)] + ["\u0591", "\u05b0", "\u093c", "\u094d", "\u0e38", "\u1dc0", "\u20d0", "\u302a", "\u3099",
                                                "\u309a", "\U0001d165", "\U0001d16d", "\u0345"]
bases = list("aeiouAEIOUnNcCsSzZ") + ["\u1100", "\u1161", "\u11a8", "\uac00", "\uac01", "\u0915", "\u3046", "\u304b", "\u03b1", "\u0399",
                                       "\u05d0", "\U000110a5", "\U000110ba", "\u212b", "\u2126", "\u0340", "\u0f73"]
for _ in range(1500):
    nfc_inputs.append("".join(rng.choice(bases + marks) for _ in range(rng.randint(1, 6))))

out = {
    "source": "ftfy 6.3.1 fix_text and badness.is_bad; CPython %s unicodedata %s NFC" % (sys.version.split()[0], unicodedata.unidata_version),
    "ftfy": [{"text": t, "fixed": ftfy.fix_text(t), "bad": is_bad(t)} for t in inputs],
    "nfc": [[s, unicodedata.normalize("NFC", s)] for s in nfc_inputs],
}
path = os.path.join(ROOT, "tests", "DreamBooth.Tests", "Text", "text_reference.json")
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "w", encoding="utf-8", newline="\n") as f:
    json.dump(out, f, ensure_ascii=True, indent=0)
    f.write("\n")
print(path, len(out["ftfy"]), len(out["nfc"]), file=sys.stderr)
