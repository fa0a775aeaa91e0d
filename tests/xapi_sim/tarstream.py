"""Streaming tar, as much as XVA needs: ustar headers out, ustar/GNU/pax headers in.

Only bytes: the reader pulls from a `read_exact(n)` function that raises EOFError when the
stream ends early; nothing is held but the current member."""
import re

BLOCK = 512


class TarError(Exception):
    """A header that is not a tar header (bad checksum or number)."""


def _octal(n, width):
    s = b'%o' % n
    if len(s) < width:
        return s.rjust(width - 1, b'0') + b'\0'
    # too big for octal: GNU base-256 (sizes of 8 GiB and more)
    return bytes([0x80]) + n.to_bytes(width - 1, 'big')


def header(name, size, mtime=0, mode=0o400):
    """One ustar header block for a regular file."""
    raw = name.encode('utf-8')
    prefix = b''
    if len(raw) > 100:
        cut = raw.rfind(b'/', 0, 156)
        if cut <= 0 or len(raw) - cut - 1 > 100:
            raise ValueError('tar name too long: %s' % name)
        prefix, raw = raw[:cut], raw[cut + 1:]
    h = bytearray(BLOCK)
    h[0:len(raw)] = raw
    h[100:108] = _octal(mode, 8)
    h[108:116] = _octal(0, 8)
    h[116:124] = _octal(0, 8)
    h[124:136] = _octal(size, 12)
    h[136:148] = _octal(int(mtime), 12)
    h[148:156] = b' ' * 8
    h[156:157] = b'0'
    h[257:263] = b'ustar\0'
    h[263:265] = b'00'
    h[345:345 + len(prefix)] = prefix
    h[148:156] = b'%06o\0 ' % sum(h)
    return bytes(h)


def padding(size):
    return b'\0' * ((BLOCK - size % BLOCK) % BLOCK)


def member(name, data, mtime=0):
    """Header, data and padding of one file."""
    return header(name, len(data), mtime) + data + padding(len(data))


END = b'\0' * (2 * BLOCK)


def _number(field):
    if field[:1] and field[0] & 0x80:
        return int.from_bytes(bytes([field[0] & 0x7f]) + field[1:], 'big')
    s = field.split(b'\0', 1)[0].strip()
    if not s:
        return 0
    try:
        return int(s, 8)
    except ValueError:
        raise TarError('bad number %r' % field)


def parse_header(block):
    """(name, size, typeflag) of a header block. Raises TarError on a bad checksum."""
    if len(block) != BLOCK:
        raise EOFError()
    stored = _number(block[148:156])
    if stored != sum(block[:148]) + 8 * 32 + sum(block[156:]):
        raise TarError('tar header checksum mismatch')
    name = block[0:100].split(b'\0', 1)[0]
    if block[257:262] == b'ustar':
        prefix = block[345:500].split(b'\0', 1)[0]
        if prefix:
            name = prefix + b'/' + name
    return name.decode('utf-8', 'replace'), _number(block[124:136]), block[156:157]


class Reader:
    """Iterates over the members of a tar stream, one at a time."""

    def __init__(self, read_exact):
        self.read_exact = read_exact
        self.done = False

    def next(self):
        """(name, size) of the next regular file, or None at the end of the archive."""
        long_name, pax_size = None, None
        while True:
            block = self.read_exact(BLOCK)
            if not block.strip(b'\0'):
                self.done = True
                return None
            name, size, kind = parse_header(block)
            if kind not in (b'L', b'x', b'g'):
                return (long_name or name), (size if pax_size is None else pax_size)
            data = self.read(size)
            if kind == b'L':
                long_name = data.split(b'\0', 1)[0].decode('utf-8', 'replace')
            elif kind == b'x':
                m = re.search(rb'\d+ path=([^\n]*)\n', data)
                if m:
                    long_name = m.group(1).decode('utf-8', 'replace')
                m = re.search(rb'\d+ size=(\d+)\n', data)
                if m:
                    pax_size = int(m.group(1))

    def read(self, size):
        """The data of the current member (its padding is skipped)."""
        data = self.read_exact(size)
        self.read_exact(len(padding(size)))
        return data
