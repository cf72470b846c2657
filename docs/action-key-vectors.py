#!/usr/bin/env python3
"""Test vectors for arca's action-key encoding, version 1.

An implementation of docs/action-key.md written independently of the C code
in src/lib/action.c (it uses only hashlib and struct), so that the vectors
pinned in tests/unit/test_action.c check the C code against a second reading
of the specification.

    python3 docs/action-key-vectors.py          # Markdown, as in action-key.md
    python3 docs/action-key-vectors.py --c      # C initialisers for the test
"""

import hashlib
import struct
import sys

VERSION = 1
MAGIC = b"arca-action\x00" + struct.pack(">I", VERSION)

TAG_STAGE = 0x01
TAG_ARG = 0x02
TAG_INPUT = 0x03
TAG_PARAM = 0x04
TAG_SECRET = 0x05
TAG_ENV = 0x06
TAG_OUTPUT = 0x07
TAG_TOOL = 0x08

TOOL_DIGEST = 0x01
TOOL_VERSION = 0x02


def sha256(data):
    return hashlib.sha256(data).digest()


def u64(n):
    return struct.pack(">Q", n)


def string(b):
    return u64(len(b)) + b


def field(tag, value):
    return bytes([tag]) + u64(len(value)) + value


def utf8(s):
    return s.encode("utf-8")


def encode(v):
    """The canonical encoding of the action described by the dict v."""
    out = bytearray(MAGIC)
    out += field(TAG_STAGE, utf8(v["stage"]))
    for arg in v["argv"]:
        out += field(TAG_ARG, utf8(arg))
    # Python compares bytes objects bytewise, a shorter prefix first: the
    # order the specification asks for.
    for name, digest_hex in sorted((utf8(n), d) for n, d in v["inputs"]):
        out += field(TAG_INPUT, string(name) + bytes.fromhex(digest_hex))
    for name, value in sorted((utf8(n), utf8(x)) for n, x in v["params"]):
        out += field(TAG_PARAM, string(name) + string(value))
    for name, value in sorted((utf8(n), utf8(x)) for n, x in v["secrets"]):
        out += field(TAG_SECRET, string(name) + sha256(value))
    for name, value in sorted(((utf8(n), x) for n, x in v["env"]),
                              key=lambda p: p[0]):
        if value is None:
            out += field(TAG_ENV, string(name) + b"\x00")
        else:
            out += field(TAG_ENV, string(name) + b"\x01" + string(utf8(value)))
    for path in sorted(utf8(p) for p in v["outputs"]):
        out += field(TAG_OUTPUT, path)
    tool = v["tool"]
    if tool is not None:
        kind, ident = tool
        if kind == "digest":
            out += field(TAG_TOOL, bytes([TOOL_DIGEST]) + bytes.fromhex(ident))
        else:
            out += field(TAG_TOOL, bytes([TOOL_VERSION]) + utf8(ident))
    return bytes(out)


def hexdigest_of(text):
    return hashlib.sha256(utf8(text)).hexdigest()


# Inputs, parameters and environment are listed here deliberately out of
# order: the encoding sorts them.
VECTORS = [
    {
        "title": "minimal: a stage and its argv",
        "stage": "hello",
        "argv": ["echo", "hello, world"],
        "inputs": [],
        "params": [],
        "secrets": [],
        "env": [],
        "outputs": [],
        "tool": None,
    },
    {
        "title": "every field, tool identified by digest",
        "stage": "transcode",
        "argv": ["ffmpeg", "-i", "in.wav", "-ar", "16000", "-c:a", "flac",
                 "out.flac"],
        "inputs": [("in.wav", hexdigest_of("RIFF fake wave data\n")),
                   ("filters.txt", hexdigest_of("highpass=f=200\n"))],
        "params": [("rate", "16000"), ("codec", "flac")],
        "secrets": [("api_token", "s3cr3t-t0ken")],
        "env": [("TZ", None), ("LANG", "C.UTF-8")],
        "outputs": ["out.flac", "logs/ffmpeg.txt"],
        "tool": ("digest", hexdigest_of("#!/fake/ffmpeg binary\n")),
    },
    {
        "title": "empty strings: an empty argv element, an empty parameter "
                 "value, an empty environment value next to an unset one",
        "stage": "format",
        "argv": ["sh", "-c", "printf '%s|' \"$@\"", "", "x", ""],
        "inputs": [("transcript.json", hexdigest_of("{}\n"))],
        "params": [("suffix", ""), ("style", "srt")],
        "secrets": [],
        "env": [("EMPTY", ""), ("UNSET", None)],
        "outputs": ["out.srt"],
        "tool": ("version", "sh 5.2"),
    },
    {
        "title": "non-ASCII UTF-8 in every kind of string",
        "stage": "transcrire",
        "argv": ["whisper", "--langue", "français", "entrée — 1.wav"],
        "inputs": [("entrée — 1.wav", hexdigest_of("données audio\n")),
                   ("zèbre.txt", hexdigest_of("z\n")),
                   ("z.txt", hexdigest_of("plain z\n"))],
        "params": [("modèle", "large-v3"), ("langue", "français")],
        "secrets": [("clé", "mot de passe ✓")],
        "env": [("LC_ALL", "fr_FR.UTF-8"), ("GRÜSSE", None)],
        "outputs": ["sortie/transcription é.txt"],
        "tool": ("version", "whisper 1.5 « bêta » 日本語"),
    },
    {
        "title": "sorting on a shared prefix, no argv at all, "
                 "secret parameters only",
        "stage": "diarize",
        "argv": [],
        "inputs": [("ab", hexdigest_of("ab")), ("a", hexdigest_of("a")),
                   ("a.b", hexdigest_of("a.b"))],
        "params": [],
        "secrets": [("tokenB", "two"), ("token", "one")],
        "env": [("PATHX", "/x"), ("PATH", "/usr/bin:/bin")],
        "outputs": ["b", "a/b", "a"],
        "tool": None,
    },
]


def wrap(hexstr, width=64):
    return "\n".join(hexstr[i:i + width] for i in range(0, len(hexstr), width))


def code(s):
    """A Markdown code span for a table cell (a | would end the cell)."""
    return "`%s`" % s.replace("|", "\\|") if s else '`""`'


def markdown():
    for i, v in enumerate(VECTORS, 1):
        enc = encode(v)
        print("### Vector %d: %s" % (i, v["title"]))
        print()
        print("| field | value |")
        print("|---|---|")
        print("| stage | %s |" % code(v["stage"]))
        print("| argv | %s |" % (", ".join(code(a) for a in v["argv"])
                                 or "(empty: no argument)"))
        for name, d in v["inputs"]:
            print("| input | %s → `%s` |" % (code(name), d))
        for name, value in v["params"]:
            print("| param | %s = %s |" % (code(name), code(value)))
        for name, value in v["secrets"]:
            print("| secret param | %s = %s (SHA-256 `%s`) |"
                  % (code(name), code(value), sha256(utf8(value)).hex()))
        for name, value in v["env"]:
            if value is None:
                print("| env | %s unset |" % code(name))
            else:
                print("| env | %s = %s |" % (code(name), code(value)))
        for path in v["outputs"]:
            print("| output | %s |" % code(path))
        if v["tool"] is None:
            print("| tool | (none) |")
        else:
            print("| tool | %s %s |" % (v["tool"][0], code(v["tool"][1])))
        print()
        print("Inputs, parameters, environment and outputs are listed in the "
              "order they were added; the encoding sorts them.")
        print()
        print("Encoding (%d bytes):" % len(enc))
        print()
        print("```")
        print(wrap(enc.hex()))
        print("```")
        print()
        print("Key: `%s`" % hashlib.sha256(enc).hexdigest())
        print()


def c_string(s):
    out = '"'
    for b in utf8(s):
        if b in (0x22, 0x5c):
            out += "\\" + chr(b)
        elif 0x20 <= b < 0x7f:
            out += chr(b)
        else:
            # Octal escapes stop after three digits; hex ones would swallow
            # a following hex-digit character.
            out += "\\%03o" % b
    return out + '"'


def c_list(items):
    """{ "a", "b", NULL }: a NULL-terminated list of strings."""
    return "{ " + "".join(c_string(x) + ", " for x in items) + "NULL }"


def c_pairs(pairs, indent):
    """{ { "n", "v" }, ..., { NULL, NULL } }; a value may be None (NULL)."""
    lines = ["{ %s, %s }," % (c_string(n), "NULL" if x is None else c_string(x))
             for n, x in pairs] + ["{ NULL, NULL }"]
    sep = "\n" + indent + "\t"
    return "{" + sep + sep.join(lines) + "\n" + indent + "}"


def c_vectors():
    print("/* Generated by docs/action-key-vectors.py --c; do not edit. */")
    for i, v in enumerate(VECTORS, 1):
        enc = encode(v)
        t = "\t\t"
        print("\t{ /* vector %d: %s */" % (i, v["title"]))
        print(t + "%s," % c_string(v["stage"]))
        print(t + "%s," % c_list(v["argv"]))
        print(t + "%s," % c_pairs(v["inputs"], t))
        print(t + "%s," % c_pairs(v["params"], t))
        print(t + "%s," % c_pairs(v["secrets"], t))
        print(t + "%s," % c_pairs(v["env"], t))
        print(t + "%s," % c_list(v["outputs"]))
        if v["tool"] is None:
            print(t + "ARCA_TOOL_NONE, NULL,")
        else:
            kind = {"digest": "ARCA_TOOL_DIGEST",
                    "version": "ARCA_TOOL_VERSION"}[v["tool"][0]]
            print(t + "%s,\n%s%s," % (kind, t, c_string(v["tool"][1])))
        h = enc.hex()
        print(t + ("\n" + t).join('"%s"' % h[j:j + 64]
                                  for j in range(0, len(h), 64)) + ",")
        print(t + '"%s"' % hashlib.sha256(enc).hexdigest())
        print("\t},")


def main(argv):
    if len(argv) > 1 and argv[1] == "--c":
        c_vectors()
    elif len(argv) > 1:
        sys.stderr.write("usage: %s [--c]\n" % argv[0])
        return 2
    else:
        markdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
