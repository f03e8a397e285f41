"""The archive's SQL split into the statements the server will see: data, never code, and never the end of the
restore's transaction.

An archive is hostile input until proven otherwise: whoever can write to the bucket can plant one. The replay sends
each statement alone through libpq (replay.py), so nothing on the client interprets the bytes (no psql, no
backslash meta-command, no `:var`); but one protocol message may hold several statements, so the split must be the
server's own (src/backend/parser/scan.l with standard_conforming_strings on and an encoding in which every byte below
0x80 is ASCII), and what would make it ambiguous is refused instead of guessed. SqlStream reads the pg_dump plain SQL
as it streams, block by block, and refuses (one line naming the member and the line):

- a NUL byte anywhere; a backslash outside quotes and comments (a psql meta-command), except pg_dump's own
  `\\restrict KEY` / `\\unrestrict KEY` lines, which are dropped;
- transaction control at the start of any statement, a routine body's inner ones included (BEGIN, START, COMMIT,
  END, ROLLBACK, ABORT, SAVEPOINT, RELEASE, PREPARE); pg_dump's own `BEGIN;` / `COMMIT;` lines around large objects'
  data are dropped (the restore's one transaction holds them);
- a COPY not in pg_dump's exact one-line form `COPY schema.table (columns) FROM stdin;` (lower case, FROM PROGRAM,
  a file, ...): the data that follows goes through the copy protocol, so where it ends must be certain;
- a change of client_encoding to one that is not ASCII-safe, of standard_conforming_strings to anything but on;
- E'' strings and a `$` right after an identifier or digit character (`1$q$`, `a$b`): pg_dump with
  standard_conforming_strings on and --quote-all-identifiers writes neither, and the server's versions disagree on
  them;
- in a routine's SQL body (CREATE FUNCTION ... BEGIN ATOMIC ... END, counted at parenthesis depth 0 only, so
  `f(begin int)` is a name) a CASE or END that a name could be (after AS or `.`), and an END that closes the body
  anywhere but at a statement's start: the server's and the count's ends of the body then always agree.

A `--` comment ends at \\r or \\n, as the server's does; COPY data ends at `\\.\\n` or `\\.\\r\\n`, as psql's does.
feed() returns the events the replay acts on: (SQL, statement bytes, line of its `;`), (COPY, the COPY statement,
line), (DATA, bytes of COPY data), (END_COPY, None, line).
"""

import re

from ..errors import IntegrityError
from ..pg_admin import table_key

SQL, COPY, DATA, END_COPY = "sql", "copy", "data", "end_copy"

_IDENT = rb'(?:"(?:[^"\n]|"")*"|[A-Za-z_][A-Za-z0-9_]*)'
# pg_dump's `COPY %s %s FROM stdin;`: a table without columns has an empty list between two spaces
_COPY_RE = re.compile(rb"COPY (" + _IDENT + rb")\.(" + _IDENT + rb") (?:\(" + _IDENT + rb"(?:, " + _IDENT + rb")*\))? "
                      rb"FROM stdin;\n")  # fmt: skip
# outside quotes: comments, quotes, words (identifier characters), and every other character one by one
_TOKEN = re.compile(rb"--|/\*|[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*|[0-9]+|\S")
_IDENT_CHAR = re.compile(rb"[A-Za-z0-9_\x80-\xff$]")
_DOLLAR_QUOTE = re.compile(rb"\$(?:[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$")
_PARAM = re.compile(rb"\$[0-9]*")
_DUMP_LINES = (b"BEGIN;\n", b"COMMIT;\n")  # pg_dump's own transaction around large objects' data
_DUMP_RESTRICT = re.compile(rb"\\(?:un)?restrict [A-Za-z0-9]+\n")
# statements that would end, or nest in, the restore's own transaction
TRANSACTION_CONTROL = {"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE", "PREPARE"}
# client encodings in which a byte below 0x80 is always that ASCII character (PostgreSQL's server encodings); the
# others (SJIS, BIG5, GBK, UHC, GB18030, JOHAB, SHIFT_JIS_2004) hide a quote or backslash in a character's trail byte
SAFE_ENCODINGS = {
    "sqlascii", "utf8", "unicode", "eucjp", "euccn", "euckr", "euctw", "eucjis2004", "muleinternal",
    *(f"latin{n}" for n in range(1, 11)), *(f"iso8859{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 15, 16)),
    *(f"win{n}" for n in (866, 874, 1250, 1251, 1252, 1253, 1254, 1255, 1256, 1257, 1258)), "koi8r", "koi8u",
}  # fmt: skip
_SETTINGS = re.compile(rb"client_encoding|standard_conforming_strings|^SET\s+(?:(?:SESSION|LOCAL)\s+)?NAMES\b", re.I)
_SET_ENCODING = re.compile(rb"SET\s+(?:SESSION\s+)?client_encoding\s*(?:=|TO)\s*'([A-Za-z0-9_-]+)'\s*;", re.I)
_SET_SCS_ON = re.compile(rb"SET\s+(?:SESSION\s+)?standard_conforming_strings\s*(?:=|TO)\s*(?:on|'on')\s*;", re.I)
_TERMINATORS = (b"\\.\n", b"\\.\r\n")
# Bounds on what is held in memory before it is judged, so a line that never ends (a gigabyte of zeros) is refused
# at the bound instead of allocated: a COPY row is at most what the server takes in one field (1 GB), a statement
# (pg_dump's longest: a function body, a view) far less
MAX_COPY_LINE = 1 << 30
MAX_STATEMENT = 64 << 20
BACKSLASH_HOPS = 64  # backslashes of one block's COPY data looked at one by one before searching for `\n\\.`


def _terminator(data, pos, cut):
    """Where the `\\.` line that ends COPY data begins in data[pos:cut] (pos: a line's start), or -1.

    COPY's text format escapes every backslash of the data, and a NULL is `\\N`: a backslash is rare, so memchr (a
    one-byte find) finds each far faster than a search for the terminator. Data with many (NULL-heavy rows, or an
    archive made to have them) goes on after BACKSLASH_HOPS of them with that search: no input makes this slower."""
    search = pos
    for _hop in range(BACKSLASH_HOPS):
        found = data.find(b"\\", search, cut)
        if found < 0:
            return -1
        if (found == pos or data[found - 1] == 10) and data.startswith(_TERMINATORS, found):  # 10: b"\n"
            return found
        search = found + 1
    # none before `search` began a terminator: the rest by the terminator's newline (one at pos has none in data)
    if search == pos and data.startswith(_TERMINATORS, pos):
        return pos
    while True:
        found = data.find(b"\n\\.", search, cut)
        if found < 0:
            return -1
        if data.startswith(_TERMINATORS, found + 1):
            return found + 1
        search = found + 1


def safe_encoding(name):
    """Whether a client_encoding (as SET or the server spells it) keeps every ASCII byte ASCII."""
    return re.sub(r"[^a-z0-9]", "", (name or "").lower()) in SAFE_ENCODINGS


def _unquote(ident):
    ident = ident.decode("utf-8", "replace")
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident.lower()


class SqlStream:
    """feed(block) -> [events] (complete lines; an incomplete one waits for its end); close() -> the last ones.
    counts: {table: rows} of the COPY blocks so far. Raises IntegrityError on anything refused."""

    def __init__(self, member="the SQL"):
        self.member = member
        self.counts = {}
        self.blanked = 0  # pg_dump's own transaction control and \restrict lines, dropped
        self._current = None  # the table whose COPY data is streaming
        self._tail = []  # the pieces of a line not ended yet: a long row (a large bytea) spans many blocks
        self._tail_size = 0
        self._line = 0  # lines of the SQL done
        self._quote = None  # None, b"'", b'"', b"/*" (with _comments) or a dollar quote's tag
        self._comments = 0
        self._reset()

    def _reset(self):
        self._pieces = []  # the statement so far (the lines before this one)
        self._size = 0
        self._first = None  # offset of the statement's first token in it
        self._words = []  # its first words: does it define a routine?
        self._parens = 0
        self._atomic = 0  # BEGIN ATOMIC ... END of a routine's SQL body, CASE ... END inside it
        self._inner = False  # at the start of a statement inside that body
        self._closed = False  # the body's END was seen: only `;` may follow
        self._prev = None  # the last token outside quotes and comments

    @property
    def lines(self):
        """Lines of the SQL read so far."""
        return self._line

    # -- blocks and lines ---------------------------------------------------------------------------------------

    def feed(self, block):
        cut = block.rfind(b"\n") + 1
        if not cut:
            if block:
                self._tail.append(block)  # joined once, when the line ends: no copy per block
                self._tail_size += len(block)
                bound = MAX_STATEMENT if self._current is None else MAX_COPY_LINE
                if self._tail_size + self._size > bound:
                    self._refuse(f"a line longer than {bound >> 20} MiB (no archive of ours has one)")
            return []
        out = []
        start = 0
        if self._tail:  # the line begun in the blocks before: complete it, scan it alone (no copy of the block)
            start = block.index(b"\n") + 1
            line = b"".join([*self._tail, block[:start]])
            self._scan(line, 0, len(line), out)
        self._scan(block, start, cut, out)
        self._tail = [block[cut:]] if cut < len(block) else []
        self._tail_size = len(block) - cut
        return out

    def close(self):
        """The end of the stream: nothing may be left open (a statement, a quote, COPY data without its `\\.`)."""
        tail = b"".join(self._tail)
        self._tail = []
        out = []
        if self._current is not None:
            if tail.rstrip(b"\r") != b"\\.":
                self._refuse("COPY data without its end (\\.) at the end of the SQL", self._line + bool(tail))
            self._current = None
            return [(END_COPY, None, self._line + 1)]
        if tail:
            self._scan(tail + b"\n", 0, len(tail) + 1, out)
        if self._quote is not None or self._first is not None:
            self._refuse("a statement not ended at the end of the SQL", self._line)
        return out

    def _scan(self, data, pos, cut, out):
        """data[pos:cut], whole lines, into out; COPY data is passed on in slices, never line by line."""
        while pos < cut:
            if self._current is not None:
                pos = self._copy_data(data, pos, cut, out)
                continue
            eol = data.index(b"\n", pos) + 1
            self._sql_line(data[pos:eol], out)
            self._line += 1
            pos = eol

    def _copy_data(self, data, pos, cut, out):
        end = _terminator(data, pos, cut)
        stop = cut if end < 0 else end
        nul = data.find(b"\0", pos, stop)
        if nul >= 0:
            self._refuse("a NUL byte", self._line + 1 + data.count(b"\n", pos, nul))
        rows = data.count(b"\n", pos, stop)
        self.counts[self._current] += rows
        self._line += rows
        if stop > pos:
            out.append((DATA, data[pos:stop], None))
        if end >= 0:
            self._current = None
            self._line += 1
            out.append((END_COPY, None, self._line))
            stop = data.index(b"\n", end) + 1
        return stop

    def _refuse(self, what, line=None):
        raise IntegrityError(
            f"{self.member} line {line or self._line + 1} holds {what}: archives are data, never code; refused, "
            "nothing was committed"
        )

    # -- statements ---------------------------------------------------------------------------------------------

    def _sql_line(self, line, out):
        if b"\0" in line:
            self._refuse("a NUL byte")
        if self._quote is None and self._first is None:
            if line in _DUMP_LINES or _DUMP_RESTRICT.fullmatch(line):
                self.blanked += 1
                return
        self._seg = 0  # where the current statement's part of this line begins
        pos, end = 0, len(line)
        while pos < end:
            if self._quote is not None:
                pos = self._inside(line, pos, end)
                continue
            match = _TOKEN.search(line, pos)
            if match is None:
                break
            pos = self._token(line, match, out)
            if pos is None:  # a COPY statement: its data begins on the next line
                return
        self._pieces.append(line[self._seg :])
        self._size += end - self._seg
        if self._size > MAX_STATEMENT:
            self._refuse(f"a statement longer than {MAX_STATEMENT >> 20} MiB (no archive of ours has one)")

    def _token(self, line, match, out):
        """Act on one token outside quotes; returns where scanning goes on (None: the line is done, COPY follows)."""
        token, start, pos = match.group(), match.start(), match.end()
        if token == b"--":  # to the end of the line, or to a \r, as the server's comment
            return self._comment_end(line, pos)
        if token == b"/*":
            self._quote, self._comments = b"/*", 1
            return pos
        if self._closed and token != b";":
            self._refuse("something after the END of a routine body")
        if self._first is None:
            self._first = self._size + start - self._seg
        char = token[:1]
        word = token.upper().decode("latin-1") if char.isalpha() or char == b"_" or char >= b"\x80" else None
        if word is not None or char.isdigit():
            if line[pos : pos + 1] == b"$":
                self._refuse("a `$` right after a name or a number (pg_dump writes none; the server's versions "
                             "read it differently)")  # fmt: skip
            if word is not None:
                return self._word(line, word, start, pos, out)
        elif token == b"'":
            if start and line[start - 1 : start] in (b"E", b"e"):
                self._refuse("an E'' string (pg_dump writes none with standard_conforming_strings on)")
            self._quote = b"'"
        elif token == b'"':
            self._quote = b'"'
        elif token == b"$":
            if start and _IDENT_CHAR.match(line, start - 1):
                self._refuse("a `$` right after a name or a number (pg_dump writes none; the server's versions "
                             "read it differently)")  # fmt: skip
            dollar = _DOLLAR_QUOTE.match(line, start)
            if dollar:
                self._quote, pos = dollar.group(), dollar.end()
            else:
                pos = _PARAM.match(line, start).end()  # $1: a parameter of a routine body
        elif token == b"\\":
            self._refuse("a psql meta-command (a backslash outside quotes)")
        elif token == b"(":
            self._parens += 1
        elif token == b")":
            self._parens -= 1
        elif token == b";":
            return self._semicolon(line, pos, out)
        self._inner = False
        self._prev = token
        return pos

    def _comment_end(self, line, pos):
        found = line.find(b"\r", pos)
        return len(line) if found < 0 else found + 1

    def _word(self, line, word, start, pos, out):
        if self._prev is None or self._inner:
            self._statement_start(line, word, start, out)
            if word == "COPY":
                return None
        if len(self._words) < 4:
            self._words.append(word)
        if self._routine() and not self._parens:
            self._routine_word(word)
        self._inner = False
        self._prev = word
        return pos

    def _statement_start(self, line, word, start, out):
        if self._inner and word == "END":
            return  # the routine body's own END: _routine_word checks it closes the body
        if word in TRANSACTION_CONTROL:
            self._refuse(f"transaction control ({word})")
        if word != "COPY":
            return
        copy = None if self._inner or start else _COPY_RE.fullmatch(line)
        if copy is None:
            self._refuse("a COPY that is not pg_dump's `COPY schema.table (columns) FROM stdin;` on a line of its own")
        self._current = table_key(_unquote(copy.group(1)), _unquote(copy.group(2)))
        self.counts[self._current] = 0
        out.append((COPY, line[:-1], self._line + 1))
        self._reset()

    def _routine(self):
        words = self._words
        return words[:1] == ["CREATE"] and (
            words[1:2] in (["FUNCTION"], ["PROCEDURE"]) or (words[1:3] == ["OR", "REPLACE"] and words[3:4] in (
                ["FUNCTION"], ["PROCEDURE"]))
        )  # fmt: skip

    def _routine_word(self, word):
        """BEGIN ATOMIC opens a routine's SQL body, CASE ... END nest in it, its END closes it: counted as psql
        does (at parenthesis depth 0), and refused where the count and the server could disagree."""
        if not self._atomic:
            if word == "ATOMIC" and self._prev == "BEGIN":
                self._atomic, self._inner = 1, True
            return
        if word not in ("CASE", "END"):
            return
        if self._prev in ("AS", b"."):
            self._refuse(f"{word} used as a name in a routine body")
        if word == "CASE":
            self._atomic += 1
            return
        if self._inner != (self._atomic == 1):
            self._refuse("an END that does not match the routine body's BEGIN ATOMIC")
        self._atomic -= 1
        self._closed = not self._atomic

    def _semicolon(self, line, pos, out):
        if self._parens:
            self._refuse("a `;` inside parentheses")
        if self._atomic:  # a statement of a routine's body: the routine's statement goes on
            self._inner, self._prev = True, b";"
            return pos
        statement = b"".join([*self._pieces, line[self._seg : pos]])
        self._check_settings(statement[self._first :])
        out.append((SQL, statement, self._line + 1))
        self._reset()
        self._seg = pos
        return pos

    def _check_settings(self, statement):
        """client_encoding and standard_conforming_strings decide how the server splits what follows: only pg_dump's
        own SET of a safe encoding, and of standard_conforming_strings to on (the replay also checks what the server
        reports after every statement: a function can change them too)."""
        if not _SETTINGS.search(statement):
            return
        encoding = _SET_ENCODING.fullmatch(statement)
        if encoding and safe_encoding(encoding.group(1).decode()):
            return
        if not encoding and _SET_SCS_ON.fullmatch(statement):
            return
        self._refuse("a change of client_encoding or standard_conforming_strings")

    def _inside(self, line, pos, end):
        """Scan a quoted or commented stretch; returns where the normal text goes on (end: it goes on next line)."""
        quote = self._quote
        if quote == b"/*":  # nested, as the server's
            while True:
                opened, closed = line.find(b"/*", pos), line.find(b"*/", pos)
                if closed < 0 and opened < 0:
                    return end
                if opened >= 0 and (closed < 0 or opened < closed):
                    self._comments, pos = self._comments + 1, opened + 2
                    continue
                self._comments, pos = self._comments - 1, closed + 2
                if not self._comments:
                    self._quote = None
                    return pos
        if quote in (b"'", b'"'):  # standard_conforming_strings on: a backslash is a character like any other
            while True:
                found = line.find(quote, pos)
                if found < 0:
                    return end
                if line[found + 1 : found + 2] == quote:
                    pos = found + 2  # '' or "": the quote character itself
                    continue
                self._quote = None
                self._inner, self._prev = False, quote
                return found + 1
        found = line.find(quote, pos)  # a dollar quote ends at the same tag
        if found < 0:
            return end
        self._quote = None
        self._inner, self._prev = False, b"$"
        return found + len(quote)
