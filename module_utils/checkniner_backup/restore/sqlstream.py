"""The archive's SQL as psql may see it: data, never code, and never the end of the restore's transaction.

An archive is hostile input until proven otherwise: whoever can write to the bucket can plant one. psql executes
backslash meta-commands (`\\! cmd` runs a shell command) wherever its lexer finds a backslash outside quotes, even in
the middle of a line, and a `COMMIT;` in the dump would end the restore's own transaction half-way (pg_dump wraps
large objects' data in its own BEGIN/COMMIT). SqlStream reads the pg_dump plain SQL as it streams, block by block,
with a small lexer that follows quotes, dollar quotes, comments and COPY data the way psql does, and:

- refuses any backslash outside quotes, comments and COPY data (a meta-command), naming the line: nothing of the
  archive reaches psql after it, and the transaction is never committed;
- blanks pg_dump's own `\\restrict KEY` / `\\unrestrict KEY` lines (the replay opens its own, with a key the archive
  cannot know, where psql has the command), and top-level `BEGIN;` / `COMMIT;` statements (the restore's transaction
  holds them all);
- counts the rows of every COPY block (the replay's row-count checks), scanning data in blocks, not lines.

Blanked lines become empty lines, so psql's line numbers stay those of the archive's SQL.
"""

import re

from ..errors import IntegrityError
from ..pg_admin import table_key

_IDENT = r'(?:"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)'
_COPY_RE = re.compile(rf"^COPY ({_IDENT})\.({_IDENT})(?: .*)? FROM stdin;\s*$".encode(), re.S)
# what changes the lexer's state outside quotes; a dollar quote opens only where an identifier does not go on
_NORMAL = re.compile(rb"--|/\*|['\"\\;]|\$(?:[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$")
_IDENT_CHAR = re.compile(rb"[A-Za-z0-9_\x80-\xff$]")
_DUMP_TRANSACTION = {b"BEGIN;", b"COMMIT;"}  # around large objects' data
# statements that would end, or nest in, the restore's own transaction
_TRANSACTION_CONTROL = {"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE", "PREPARE"}
_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_$]*")
_DUMP_RESTRICT = (b"\\restrict ", b"\\unrestrict ")
_TERMINATOR = b"\\.\n"


def _unquote(ident):
    ident = ident.decode()
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident.lower()


class SqlStream:
    """feed(block) -> the bytes psql may see (complete lines; an incomplete one waits for its end); close() -> the
    rest. counts: {table: rows} of the COPY blocks so far. Raises IntegrityError on a meta-command."""

    def __init__(self, member="the SQL"):
        self.member = member
        self.counts = {}
        self.blanked = 0  # transaction control and pg_dump's \restrict lines, replaced by empty lines
        self._current = None  # the table whose COPY data is streaming
        self._tail = []  # the pieces of a line not ended yet: a long row (a large bytea) spans many blocks
        self._line = 0  # lines of the SQL done
        self._quote = None  # None, b"'", b"E'", b'"', b"/*" (with _depth) or a dollar quote's tag
        self._depth = 0
        self._statement = False  # inside a statement (something since the last top-level `;`)
        self._words = []  # the first words of the statement: does it define a routine?
        self._depth_atomic = 0  # BEGIN ATOMIC / CASE ... END of a routine's SQL body, whose `;` do not end it

    def feed(self, block):
        cut = block.rfind(b"\n") + 1
        if not cut:
            if block:
                self._tail.append(block)  # joined once, when the line ends: no copy per block
            return b""
        out = []
        start = 0
        if self._tail:  # the line begun in the blocks before: complete it, scan it alone (no copy of the block)
            start = block.index(b"\n") + 1
            line = b"".join([*self._tail, block[:start]])
            self._scan(line, 0, len(line), out)
        self._scan(block, start, cut, out)
        self._tail = [block[cut:]] if cut < len(block) else []
        return b"".join(out)

    def close(self):
        """The end of the stream: a last line without its newline is judged like any other."""
        tail = b"".join(self._tail)
        self._tail = []
        if not tail:
            return b""
        if self._current is not None:
            if tail.rstrip() != b"\\.":
                self.counts[self._current] += 1
            return tail
        out = []
        self._scan(tail + b"\n", 0, len(tail) + 1, out)
        return b"".join(out)[:-1]

    # -- scanning -----------------------------------------------------------------------------------------------

    def _scan(self, data, pos, cut, out):
        """data[pos:cut], whole lines, into out; COPY data is passed on in slices, never line by line."""
        while pos < cut:
            if self._current is not None:
                pos = self._copy_data(data, pos, cut, out)
                continue
            eol = data.index(b"\n", pos) + 1
            out.append(self._sql_line(data[pos:eol]))
            self._line += 1
            pos = eol

    def _copy_data(self, data, pos, cut, out):
        if data.startswith(_TERMINATOR, pos):
            self._current = None
            out.append(_TERMINATOR)
            self._line += 1
            return pos + len(_TERMINATOR)
        end = data.find(b"\n" + _TERMINATOR, pos, cut)
        stop = cut if end < 0 else end + 1
        rows = data.count(b"\n", pos, stop)
        self.counts[self._current] += rows
        self._line += rows
        out.append(data[pos:stop])
        return stop

    def _sql_line(self, line):
        copy = None
        if self._quote is None and not self._statement:
            if line.strip() in _DUMP_TRANSACTION or line.startswith(_DUMP_RESTRICT):
                self.blanked += 1
                return b"\n"
            copy = _COPY_RE.match(line)
        self._lex(line)  # a COPY line too: psql would run a backslash in its column list
        if copy and self._quote is None and not self._statement:
            self._current = table_key(_unquote(copy.group(1)), _unquote(copy.group(2)))
            self.counts[self._current] = 0
        return line

    def _refuse(self, what):
        raise IntegrityError(
            f"{self.member} line {self._line + 1} holds {what}: archives are data, never code; refused, nothing was "
            "committed"
        )

    def _lex(self, line):
        """Follow quotes, dollar quotes, comments and statements through one line, as psql's lexer does."""
        pos, end = 0, len(line)
        while pos < end:
            if self._quote is None:
                match = _NORMAL.search(line, pos)
                stop = match.start() if match else end
                self._words_of(line, pos, stop)
                if match is None:
                    return
                token, pos = match.group(), match.end()
                if token == b"--":
                    return  # a comment to the end of the line
                if token == b";":
                    if not self._depth_atomic:
                        self._statement, self._words = False, []
                elif token == b"\\":
                    self._refuse("a psql meta-command (a backslash outside quotes)")
                elif token == b"/*":
                    self._quote, self._depth = b"/*", 1
                elif token.startswith(b"$"):
                    if match.start() and _IDENT_CHAR.match(line, match.start() - 1):
                        pos = match.start() + 1  # part of an identifier (a$b$), not a dollar quote
                        continue
                    self._quote, self._statement = token, True
                elif token == b"'":
                    escaped = match.start() and line[match.start() - 1 : match.start()] in (b"E", b"e")
                    if escaped and match.start() > 1 and _IDENT_CHAR.match(line, match.start() - 2):
                        escaped = False  # the E ends an identifier (name'...' is not an E string)
                    self._quote, self._statement = (b"E'" if escaped else b"'"), True
                else:
                    self._quote, self._statement = b'"', True
                continue
            pos = self._inside(line, pos, end)

    def _words_of(self, line, pos, stop):
        """The words of a stretch of plain text: a statement's first word may be transaction control (refused), and
        a routine's SQL body (CREATE FUNCTION ... BEGIN ATOMIC ... END) holds `;` that do not end the statement."""
        for match in _WORD.finditer(line, pos, stop):
            word = match.group().upper().decode()
            if not self._statement:
                self._statement = True
                if word in _TRANSACTION_CONTROL:
                    self._refuse(f"transaction control ({word})")
            if len(self._words) < 4:
                self._words.append(word)
            if not (self._words[0] == "CREATE" and {"FUNCTION", "PROCEDURE"} & set(self._words)):
                continue
            if word in ("BEGIN", "CASE"):
                self._depth_atomic += 1
            elif word == "END" and self._depth_atomic:
                self._depth_atomic -= 1
        if not self._statement and line[pos:stop].strip():
            self._statement = True

    def _inside(self, line, pos, end):
        """Scan a quoted or commented stretch; returns where the normal text goes on (end: it goes on next line)."""
        quote = self._quote
        if quote == b"/*":
            while True:
                opened, closed = line.find(b"/*", pos), line.find(b"*/", pos)
                if closed < 0 and opened < 0:
                    return end
                if opened >= 0 and (closed < 0 or opened < closed):
                    self._depth, pos = self._depth + 1, opened + 2
                    continue
                self._depth, pos = self._depth - 1, closed + 2
                if not self._depth:
                    self._quote = None
                    return pos
        if quote in (b"'", b"E'", b'"'):
            mark = quote[-1:]
            while True:
                found = line.find(mark, pos)
                if quote == b"E'":
                    slash = line.find(b"\\", pos)
                    if 0 <= slash < (found if found >= 0 else end):
                        pos = slash + 2  # a backslash escape in an E'' string
                        continue
                if found < 0:
                    return end
                if line[found + 1 : found + 2] == mark:
                    pos = found + 2  # '' or "": the quote character itself
                    continue
                self._quote = None
                return found + 1
        found = line.find(quote, pos)  # a dollar quote ends at the same tag
        if found < 0:
            return end
        self._quote = None
        return found + len(quote)
