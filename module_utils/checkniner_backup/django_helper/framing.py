"""A fixture file's framing: the JSON list around the objects, whichever path (Django's serializer or PostgreSQL's
COPY) wrote each of them."""


class FixtureFile:
    """One app's fixture, a JSON list that loaddata reads, written by Django's serializer and by PostgreSQL's COPY in
    turn. Format 3: "[", the first object, then ", " and the next one, one object a line, "]" and a newline (a COPY row
    ends with a newline: both paths write the same lines). Formats 1 and 2: dumpdata's single line.

    Text is buffered into blocks of about 64 KB (one encode and write a block, not one a JSON object) and flushed
    before a COPY writes to the file itself."""

    BLOCK = 1 << 16

    def __init__(self, raw, lines):
        self.raw = raw
        self.lines = lines
        self.count = 0  # objects written
        self._pending = []
        self._pending_len = 0
        raw.write(b"[")

    def add(self, text):
        """One object's JSON text, after the separator it needs."""
        if self.count:
            text = ", " + text
        if self.lines:
            text += "\n"
        self.count += 1
        self._pending.append(text)
        self._pending_len += len(text)
        if self._pending_len >= self.BLOCK:
            self.flush()

    def flush(self):
        if self._pending:
            self.raw.write("".join(self._pending).encode("utf-8"))
            self._pending, self._pending_len = [], 0

    def close(self):
        self.flush()
        self.raw.write(b"]\n" if self.lines else b"]")
