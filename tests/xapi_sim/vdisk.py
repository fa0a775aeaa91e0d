"""The content of simulated VDIs: sparse, 1 MiB chunks, generated from a seed, so a 4 GiB
disk costs no memory and the same disk always has the same bytes.

A disk is a map chunk index -> source. A source is ('gen', seed, index): the generated chunk
of that seed and index (what every disk of the generated pool holds, and what an import of
a simulator export recognises and stores again as a source), or ('raw', bytes): data
received that the simulator did not generate, kept in memory within a global budget
(beyond it, ('lost', sha256, xxh64): the import still verifies and counts it, but the disk
can no longer be read). Absent chunks are zeros.

It knows bytes only: no HTTP, no XVA, no database rows."""
import hashlib
import threading
from collections import OrderedDict

import xxh64

CHUNK = 1 << 20
GEN_MAGIC = b'XOSIM-CHUNK '


def gen_chunk(seed, index):
    """The generated chunk `index` of disk content `seed`: a 64-byte header naming both (so an
    import can recognise it), then a 32-byte pattern from SHA-256(seed/index) repeated."""
    head = (GEN_MAGIC + seed.encode('ascii', 'replace')[:40] + b' %08x\n' % index).ljust(64, b'.')
    pattern = hashlib.sha256(b'%s/%d' % (seed.encode('ascii', 'replace'), index)).digest()
    return head + pattern * ((CHUNK - 64) // 32)


def parse_gen(data):
    """(seed, index) when `data` is a generated chunk (or a prefix of one), else None."""
    if not data.startswith(GEN_MAGIC):
        return None
    try:
        line = data[len(GEN_MAGIC):64].split(b'\n', 1)[0]
        seed, _, idx = line.rpartition(b' ')
        seed, index = seed.decode('ascii'), int(idx, 16)
    except (ValueError, UnicodeDecodeError):
        return None
    if gen_chunk(seed, index)[:len(data)] != data:
        return None
    return seed, index


class Sums:
    """Bounded cache of (sha256 hex, XVA xxhash text) of generated chunks, which repeat across
    exports and imports; computing XXH64 in Python costs ~40 ms per MiB."""

    def __init__(self, limit=65536):
        self.lock = threading.Lock()
        self.limit = limit
        self.items = OrderedDict()

    def of(self, key, data_fn):
        with self.lock:
            v = self.items.get(key)
            if v is not None:
                self.items.move_to_end(key)
                return v
        data = data_fn()
        v = (hashlib.sha256(data).hexdigest(), xxh64.xva_checksum(data))
        with self.lock:
            self.items[key] = v
            if len(self.items) > self.limit:
                self.items.popitem(last=False)
        return v


SUMS = Sums()


class RawBudget:
    """How many bytes of received (not generated) chunk data all disks may keep in memory."""

    def __init__(self, limit):
        self.lock = threading.Lock()
        self.limit = limit
        self.used = 0

    def take(self, n):
        with self.lock:
            if self.used + n > self.limit:
                return False
            self.used += n
            return True

    def give(self, n):
        with self.lock:
            self.used = max(0, self.used - n)


def is_zero(data):
    """True when every byte is zero; without a copy (strip would copy a whole chunk), and at
    once for data that does not start with a zero (every generated chunk)."""
    return not data or (data[0] == 0 and data[-1] == 0 and data.count(0) == len(data))


class ContentLost(Exception):
    """A chunk whose bytes were not kept (the raw budget was exhausted)."""


class Disk:
    def __init__(self, virtual_size, chunks=None, budget=None):
        self.virtual_size = int(virtual_size)
        self.chunks = dict(chunks or {})
        self.budget = budget

    @classmethod
    def generated(cls, seed, virtual_size, allocated):
        """A disk of `virtual_size` bytes with `allocated` bytes of generated data, in whole
        chunks: chunk 0 and then chunks spread evenly over the disk (so exports skip zeros)."""
        n = max(0, (virtual_size + CHUNK - 1) // CHUNK)
        k = min(n, (allocated + CHUNK - 1) // CHUNK)
        indices = sorted({(j * n) // k for j in range(k)}) if k else []
        return cls(virtual_size, {i: ('gen', seed, i) for i in indices})

    def copy(self):
        """Same content (clone, snapshot, copy). Raw chunks are shared, not charged twice."""
        return Disk(self.virtual_size, self.chunks, None)

    def n_chunks(self):
        return (self.virtual_size + CHUNK - 1) // CHUNK

    def chunk_len(self, index):
        return max(0, min(CHUNK, self.virtual_size - index * CHUNK))

    def nonzero(self):
        return sorted(i for i in self.chunks if i < self.n_chunks())

    def allocated(self):
        return sum(self.chunk_len(i) for i in self.nonzero())

    def chunk(self, index):
        """The bytes of chunk `index` (its length is chunk_len)."""
        n = self.chunk_len(index)
        src = self.chunks.get(index)
        if src is None:
            return bytes(n)
        if src[0] == 'gen':
            return gen_chunk(src[1], src[2])[:n]
        if src[0] == 'raw':
            return src[1][:n].ljust(n, b'\0')
        raise ContentLost(index)

    def sums(self, index):
        """(sha256 hex, XVA xxhash text) of chunk `index`, cached for generated chunks."""
        src = self.chunks.get(index)
        n = self.chunk_len(index)
        if src is None:
            return SUMS.of(('zero', n), lambda: bytes(n))
        if src[0] == 'gen':
            return SUMS.of((src[1], src[2], n), lambda: self.chunk(index))
        if src[0] == 'lost' and n == src[3]:
            return src[1], src[2]
        data = self.chunk(index)
        return hashlib.sha256(data).hexdigest(), xxh64.xva_checksum(data)

    def put(self, index, data):
        """Store the bytes of chunk `index` (all of it). Returns the (sha256, xxhash) of data."""
        old = self.chunks.pop(index, None)
        if old is not None and old[0] == 'raw' and self.budget is not None:
            self.budget.give(len(old[1]))
        if is_zero(data):
            return None
        gen = parse_gen(data)
        if gen is not None:
            self.chunks[index] = ('gen', gen[0], gen[1])
            return SUMS.of((gen[0], gen[1], len(data)), lambda: data)
        sums = (hashlib.sha256(data).hexdigest(), xxh64.xva_checksum(data))
        if self.budget is None or self.budget.take(len(data)):
            self.chunks[index] = ('raw', bytes(data))
        else:
            self.chunks[index] = ('lost', sums[0], sums[1], len(data))
        return sums

    def write(self, offset, data):
        """Write `data` at byte `offset`, chunk by chunk (XVA chunks are aligned: one put).
        Returns how much allocated() grew (negative if zeros freed chunks): an import charges
        its SR with it without counting every chunk of the disk again for each one."""
        pos, grown = 0, 0
        while pos < len(data):
            index, within = divmod(offset + pos, CHUNK)
            n = min(CHUNK - within, len(data) - pos)
            piece = data[pos:pos + n]
            if within or n < self.chunk_len(index):
                cur = bytearray(self.chunk(index)) if index in self.chunks else bytearray(self.chunk_len(index))
                cur[within:within + n] = piece
                piece = bytes(cur)
            had = index in self.chunks
            self.put(index, piece)
            grown += ((index in self.chunks) - had) * self.chunk_len(index)
            pos += n
        return grown

    def read(self, offset, n):
        out = []
        while n > 0 and offset < self.virtual_size:
            index, within = divmod(offset, CHUNK)
            take = min(n, self.chunk_len(index) - within)
            out.append(self.chunk(index)[within:within + take])
            offset += take
            n -= take
        return b''.join(out)

    def digest(self):
        """A checksum of the whole content (size and every non-zero chunk), cheap for sparse
        disks: equal content gives equal digests, whichever way it was written."""
        h = hashlib.sha256(b'size=%d\n' % self.virtual_size)
        for i in self.nonzero():
            h.update(b'%d %s\n' % (i, self.sums(i)[0].encode()))
        return h.hexdigest()
