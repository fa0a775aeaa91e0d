"""Just enough ISO 9660 to find a file in the root directory of an image (the update.xml of
an update ISO) and to write a small image (for tests). Reads through read(offset, n), so the
image can be a VDI's content. No Joliet/Rock Ridge: 8.3 names such as UPDATE.XML;1."""
import struct

SECTOR = 2048


def _records(data):
    pos = 0
    while pos < len(data):
        n = data[pos]
        if n == 0:                        # records do not cross sectors: skip to the next one
            pos = (pos // SECTOR + 1) * SECTOR
            continue
        rec = data[pos:pos + n]
        if len(rec) < 34:
            return
        lba, size = struct.unpack_from('<I', rec, 2)[0], struct.unpack_from('<I', rec, 10)[0]
        name = rec[33:33 + rec[32]]
        yield name, lba, size, rec[25]
        pos += n


def read_root_file(read, wanted, limit=16 << 20):
    """The bytes of file `wanted` (case-insensitive, version ';1' ignored) in the root directory
    of the ISO 9660 image that read(offset, n) returns, or None if it is not one or has none."""
    pvd = read(16 * SECTOR, SECTOR)
    if len(pvd) < SECTOR or pvd[0] != 1 or pvd[1:6] != b'CD001':
        return None
    root = pvd[156:190]
    lba, size = struct.unpack_from('<I', root, 2)[0], struct.unpack_from('<I', root, 10)[0]
    directory = read(lba * SECTOR, min(size, 1 << 20))
    for name, flba, fsize, flags in _records(directory):
        if flags & 2:
            continue
        if name.split(b';')[0].decode('latin-1').lower() == wanted.lower():
            return read(flba * SECTOR, min(fsize, limit))
    return None


def _dir_record(name, lba, size, is_dir):
    n = 33 + len(name) + (1 if len(name) % 2 == 0 else 0)
    rec = bytearray(n)
    rec[0] = n
    struct.pack_into('<I', rec, 2, lba)
    struct.pack_into('>I', rec, 6, lba)
    struct.pack_into('<I', rec, 10, size)
    struct.pack_into('>I', rec, 14, size)
    rec[18:25] = bytes((124, 1, 1, 0, 0, 0, 0))      # 2024-01-01 00:00:00 UTC
    rec[25] = 2 if is_dir else 0
    struct.pack_into('<H', rec, 28, 1)
    struct.pack_into('>H', rec, 30, 1)
    rec[32] = len(name)
    rec[33:33 + len(name)] = name
    return bytes(rec)


def make_image(files, volume='UPDATE'):
    """A minimal ISO 9660 image with `files` ({'UPDATE.XML': bytes, …}) in its root."""
    names = sorted(files)
    root_lba, lpath_lba, mpath_lba = 18, 19, 20
    lba = 21
    placed = []
    for n in names:
        placed.append((n, lba, files[n]))
        lba += max(1, -(-len(files[n]) // SECTOR))
    total = lba
    root = _dir_record(b'\0', root_lba, SECTOR, True) + _dir_record(b'\1', root_lba, SECTOR, True)
    for n, flba, data in placed:
        root += _dir_record(n.upper().encode('ascii') + b';1', flba, len(data), False)
    pvd = bytearray(SECTOR)
    pvd[0:7] = b'\x01CD001\x01'
    pvd[40:72] = volume.encode('ascii')[:32].ljust(32)
    struct.pack_into('<I', pvd, 80, total)
    struct.pack_into('>I', pvd, 84, total)
    struct.pack_into('<H', pvd, 120, 1)
    struct.pack_into('>H', pvd, 122, 1)
    struct.pack_into('<H', pvd, 124, 1)
    struct.pack_into('>H', pvd, 126, 1)
    struct.pack_into('<H', pvd, 128, SECTOR)
    struct.pack_into('>H', pvd, 130, SECTOR)
    struct.pack_into('<I', pvd, 132, 10)              # path tables: one 10-byte entry, the root
    struct.pack_into('>I', pvd, 136, 10)
    struct.pack_into('<I', pvd, 140, lpath_lba)
    struct.pack_into('>I', pvd, 148, mpath_lba)
    pvd[156:190] = _dir_record(b'\0', root_lba, SECTOR, True)
    pvd[881] = 1
    term = bytearray(SECTOR)
    term[0:7] = b'\xffCD001\x01'
    out = bytearray(total * SECTOR)
    out[16 * SECTOR:17 * SECTOR] = pvd
    out[17 * SECTOR:18 * SECTOR] = term
    out[root_lba * SECTOR:root_lba * SECTOR + len(root)] = root
    out[lpath_lba * SECTOR:lpath_lba * SECTOR + 10] = struct.pack('<BBIH2x', 1, 0, root_lba, 1)
    out[mpath_lba * SECTOR:mpath_lba * SECTOR + 10] = struct.pack('>BBIH2x', 1, 0, root_lba, 1)
    for n, flba, data in placed:
        out[flba * SECTOR:flba * SECTOR + len(data)] = data
    return bytes(out)
