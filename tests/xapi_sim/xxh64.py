"""XXH64, the checksum of XVA disk chunks (XAPI writes "%016LX" of XXH64 with seed 0 in each
chunk's ".xxhash" file, ocaml/xapi/stream_vdi.ml).

xxh64_py is the pure-Python reference (about 40 MiB/s). xxh64 uses the system's libxxhash
through ctypes when it is installed (C speed) and the pure-Python one otherwise; the unit
tests check both against the official test vectors."""
import ctypes
import ctypes.util
import struct
import sys

M64 = (1 << 64) - 1
P1 = 11400714785074694791
P2 = 14029467366897019727
P3 = 1609587929392839161
P4 = 9650029242287828579
P5 = 2870177450012600261


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def _round(acc, lane):
    acc = (acc + lane * P2) & M64
    return (_rotl(acc, 31) * P1) & M64


def _merge(h, v):
    h ^= _round(0, v)
    return (h * P1 + P4) & M64


def _words(data, start, end):
    """The little-endian 64-bit words of data[start:end] (end - start a multiple of 8)."""
    mv = memoryview(data)[start:end]
    if sys.byteorder == 'little':
        return mv.cast('Q')
    return struct.unpack('<%dQ' % ((end - start) // 8), mv)


def xxh64_py(data, seed=0):
    """XXH64 of bytes-like `data`, in pure Python."""
    n = len(data)
    pos = 0
    if n >= 32:
        v1 = (seed + P1 + P2) & M64
        v2 = (seed + P2) & M64
        v3 = seed & M64
        v4 = (seed - P1) & M64
        end = n - n % 32
        it = iter(_words(data, 0, end))
        # the four lanes, unrolled: this loop is the whole cost of the hash
        for a, b, c, d in zip(it, it, it, it):
            v1 = (v1 + a * P2) & M64
            v1 = ((((v1 << 31) | (v1 >> 33)) & M64) * P1) & M64
            v2 = (v2 + b * P2) & M64
            v2 = ((((v2 << 31) | (v2 >> 33)) & M64) * P1) & M64
            v3 = (v3 + c * P2) & M64
            v3 = ((((v3 << 31) | (v3 >> 33)) & M64) * P1) & M64
            v4 = (v4 + d * P2) & M64
            v4 = ((((v4 << 31) | (v4 >> 33)) & M64) * P1) & M64
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & M64
        h = _merge(h, v1)
        h = _merge(h, v2)
        h = _merge(h, v3)
        h = _merge(h, v4)
        pos = end
    else:
        h = (seed + P5) & M64
    h = (h + n) & M64
    while pos + 8 <= n:
        k = struct.unpack_from('<Q', data, pos)[0]
        h ^= _round(0, k)
        h = (_rotl(h, 27) * P1 + P4) & M64
        pos += 8
    if pos + 4 <= n:
        h ^= (struct.unpack_from('<I', data, pos)[0] * P1) & M64
        h = (_rotl(h, 23) * P2 + P3) & M64
        pos += 4
    while pos < n:
        h ^= (data[pos] * P5) & M64
        h = (_rotl(h, 11) * P1) & M64
        pos += 1
    h ^= h >> 33
    h = (h * P2) & M64
    h ^= h >> 29
    h = (h * P3) & M64
    h ^= h >> 32
    return h


def _load_lib():
    for name in (ctypes.util.find_library('xxhash'), 'libxxhash.so.0'):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            fn = lib.XXH64
        except (OSError, AttributeError):
            continue
        fn.restype = ctypes.c_uint64
        fn.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
        return fn
    return None


_C_XXH64 = _load_lib()


def xxh64_c(data, seed=0):
    """XXH64 through libxxhash (None when the library is not installed)."""
    if _C_XXH64 is None:
        return None
    return _C_XXH64(bytes(data), len(data), seed)


def xxh64(data, seed=0):
    if _C_XXH64 is not None:
        return _C_XXH64(bytes(data), len(data), seed)
    return xxh64_py(data, seed)


def xva_checksum(data):
    """The text of an XVA chunk's .xxhash file: 16 upper-case hex digits."""
    return '%016X' % xxh64(data)


def backend():
    return 'libxxhash' if _C_XXH64 is not None else 'python'
