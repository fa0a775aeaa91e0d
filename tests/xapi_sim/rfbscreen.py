"""The screen a simulated VM shows on its console: a 640x480 framebuffer that identifies the VM
(colour bars, a background colour and the name and uuid drawn from the VM, the uuid as a
barcode), what was typed and where the pointer is, and pixel-format conversion for RFB.

It knows pixels only: no sockets, no RFB messages (rfb.py does those)."""
import threading

W, H = 640, 480
BARS_H = 120                  # colour bars: rows 0..119, the same on every VM
VM_TOP, VM_BOTTOM = 120, 360  # the VM's own area
RAMP_TOP = 360                # grey ramp: rows 360..479
NAME_Y, UUID_Y, TYPED_Y = 140, 200, 250
BARCODE_Y, BARCODE_H = 330, 16
CELL = W // 128               # one barcode cell per uuid bit, most significant first
TEXT_X = 16
TYPED_MAX = 38                # characters of typed text shown (scale 2: 12 px each)
COUNTER_Y = 300               # streamed frames draw their counter here (scale 1)

# eight colour bars (white, yellow, cyan, green, magenta, red, blue, black)
BARS = [(255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0), (255, 0, 255), (255, 0, 0), (0, 0, 255), (0, 0, 0)]

# 5x7 glyphs, one int per row, bit 4 = leftmost pixel (the classic character-LCD font)
FONT = {
    ' ': (0, 0, 0, 0, 0, 0, 0),
    '0': (0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E), '1': (0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E),
    '2': (0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F), '3': (0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E),
    '4': (0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02), '5': (0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E),
    '6': (0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E), '7': (0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08),
    '8': (0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E), '9': (0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C),
    'A': (0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11), 'B': (0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E),
    'C': (0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E), 'D': (0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C),
    'E': (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F), 'F': (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10),
    'G': (0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F), 'H': (0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11),
    'I': (0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E), 'J': (0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C),
    'K': (0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11), 'L': (0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F),
    'M': (0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11), 'N': (0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11),
    'O': (0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E), 'P': (0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10),
    'Q': (0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D), 'R': (0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11),
    'S': (0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E), 'T': (0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04),
    'U': (0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E), 'V': (0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04),
    'W': (0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A), 'X': (0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11),
    'Y': (0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04), 'Z': (0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F),
    '-': (0, 0, 0, 0x1F, 0, 0, 0), '_': (0, 0, 0, 0, 0, 0, 0x1F), '.': (0, 0, 0, 0, 0, 0x0C, 0x0C),
    ':': (0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0), '/': (0, 0x01, 0x02, 0x04, 0x08, 0x10, 0),
    '?': (0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04), '(': (0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02),
    ')': (0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08), '#': (0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A),
    '+': (0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0), '=': (0, 0, 0x1F, 0, 0x1F, 0, 0),
    ',': (0, 0, 0, 0, 0x0C, 0x04, 0x08), "'": (0x0C, 0x04, 0x08, 0, 0, 0, 0),
    '!': (0x04, 0x04, 0x04, 0x04, 0, 0, 0x04), '*': (0, 0x04, 0x15, 0x0E, 0x15, 0x04, 0),
    '@': (0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E), '[': (0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E),
    ']': (0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E), '<': (0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02),
    '>': (0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08),
}


def background_of(uuid):
    """The VM's background colour: the first three bytes of its uuid, kept in the 64..191 range
    so that both black and white text stay readable."""
    h = uuid.replace('-', '')
    try:
        r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        r, g, b = 128, 128, 128
    return (64 + r // 2, 64 + g // 2, 64 + b // 2)


def uuid_bits(uuid):
    """The 128 bits of a uuid, most significant first (what the barcode shows)."""
    try:
        n = int(uuid.replace('-', ''), 16)
    except ValueError:
        n = 0
    return [(n >> (127 - i)) & 1 for i in range(128)]


def _px(rgb):
    r, g, b = rgb
    return bytes((b, g, r, 0))      # internal format: 32 bpp little endian, r<<16 | g<<8 | b


class Screen:
    """The framebuffer of one VM, shared by every console session of that VM (two viewers see
    the same screen). Changes are kept as (version, rect) so each session can send what
    changed since its last update."""

    MAX_CHANGES = 256

    def __init__(self, uuid, name):
        self.lock = threading.Lock()
        self.uuid = uuid
        self.name = name
        self.bg = background_of(uuid)
        self.fb = bytearray(W * H * 4)
        self.version = 0
        self.changes = []             # (version, (x, y, w, h)) ascending
        self.typed = ''
        self.pointer = (0, 0)
        self.frames = 0               # streamed frames counter
        self._draw_all()

    # -- drawing (lock held or during construction)
    def _fill(self, x, y, w, h, rgb):
        row = _px(rgb) * w
        for yy in range(y, y + h):
            o = (yy * W + x) * 4
            self.fb[o:o + w * 4] = row

    def _text(self, x, y, text, scale, fg, bg):
        """Draw text with the 5x7 font; each glyph cell is 6x8 units (one unit of spacing)."""
        cw, ch = 6 * scale, 8 * scale
        fgp, bgp = _px(fg), _px(bg)
        for i, c in enumerate(text):
            glyph = FONT.get(c.upper(), FONT['?'])
            gx = x + i * cw
            if gx + cw > W:
                break
            for gy in range(8):
                bits = glyph[gy] if gy < 7 else 0
                line = b''.join((fgp if (bits >> (4 - col)) & 1 else bgp) * scale for col in range(5)) + bgp * scale
                for sy in range(scale):
                    o = ((y + gy * scale + sy) * W + gx) * 4
                    self.fb[o:o + cw * 4] = line
        return (x, y, min(len(text) * cw, W - x), ch)

    def _fg(self):
        r, g, b = self.bg
        return (0, 0, 0) if (r * 3 + g * 6 + b) > 1280 else (255, 255, 255)

    def _draw_all(self):
        bar_w = W // 8
        bars_row = b''.join(_px(c) * bar_w for c in BARS)
        for y in range(BARS_H):
            self.fb[y * W * 4:(y + 1) * W * 4] = bars_row
        self._fill(0, VM_TOP, W, VM_BOTTOM - VM_TOP, self.bg)
        fg = self._fg()
        self._text(TEXT_X, NAME_Y, self.name[:34], 3, fg, self.bg)
        self._text(TEXT_X, UUID_Y, self.uuid, 2, fg, self.bg)
        self._draw_typed()
        bar = b''.join((_px((255, 255, 255)) if bit else _px((0, 0, 0))) * CELL for bit in uuid_bits(self.uuid))
        for y in range(BARCODE_Y, BARCODE_Y + BARCODE_H):
            self.fb[y * W * 4:(y + 1) * W * 4] = bar
        ramp = b''.join(_px((v, v, v)) for v in (x * 255 // (W - 1) for x in range(W)))
        for y in range(RAMP_TOP, H):
            self.fb[y * W * 4:(y + 1) * W * 4] = ramp

    def _draw_typed(self):
        text = ('> ' + self.typed[-TYPED_MAX:]).ljust(TYPED_MAX + 2)
        return self._text(TEXT_X, TYPED_Y, text, 2, self._fg(), self.bg)

    def _changed(self, rect):
        self.version += 1
        self.changes.append((self.version, rect))
        if len(self.changes) > self.MAX_CHANGES:
            del self.changes[:len(self.changes) - self.MAX_CHANGES // 2]

    # -- events
    def key(self, keysym, down):
        """A printable key pressed is echoed on the 'typed' line; Backspace deletes."""
        if not down:
            return
        with self.lock:
            if 0x20 <= keysym <= 0x7e:
                self.typed = (self.typed + chr(keysym))[-256:]
            elif keysym == 0xff08:
                self.typed = self.typed[:-1]
            elif keysym == 0xff0d:
                self.typed = ''
            else:
                return
            self._changed(self._draw_typed())

    def point(self, x, y):
        """The pointer leaves a 16x16 white square where it is."""
        with self.lock:
            x, y = min(x, W - 1), min(y, H - 1)
            self.pointer = (x, y)
            w, h = min(16, W - x), min(16, H - y)
            self._fill(x, y, w, h, (255, 255, 255))
            self._changed((x, y, w, h))

    def next_frame(self):
        """A streamed frame: bump the frame counter drawn in the VM area."""
        with self.lock:
            self.frames += 1
            self._changed(self._text(TEXT_X, COUNTER_Y, 'FRAME %010d' % self.frames, 1, self._fg(), self.bg))
            return self.frames

    # -- reading
    def since(self, version):
        """(current version, bounding box of what changed after `version`, or None)."""
        with self.lock:
            if version >= self.version:
                return self.version, None
            rects = [r for v, r in self.changes if v > version]
            if not self.changes or self.changes[0][0] > version + 1:
                return self.version, (0, 0, W, H)        # history trimmed: send everything
            x0 = min(r[0] for r in rects)
            y0 = min(r[1] for r in rects)
            x1 = max(r[0] + r[2] for r in rects)
            y1 = max(r[1] + r[3] for r in rects)
            return self.version, (x0, y0, x1 - x0, y1 - y0)

    def rect(self, x, y, w, h, fmt):
        """The pixels of a rectangle in the client's pixel format."""
        with self.lock:
            if x == 0 and w == W:
                raw = bytes(self.fb[y * W * 4:(y + h) * W * 4])
            else:
                raw = b''.join(bytes(self.fb[((y + r) * W + x) * 4:((y + r) * W + x + w) * 4]) for r in range(h))
        return fmt.convert(raw)


class PixelFormat:
    """An RFB PIXEL_FORMAT. Conversion from the internal format (32 bpp little endian, red at
    shift 16) is a byte permutation for 32 bpp true colour with byte-aligned shifts and 8-bit
    components, and a per-pixel loop otherwise (slow, but only 8/16 bpp clients use it)."""

    def __init__(self, bpp=32, depth=24, big_endian=0, true_colour=1, rmax=255, gmax=255, bmax=255,
                 rshift=16, gshift=8, bshift=0):
        self.bpp, self.depth, self.big_endian, self.true_colour = bpp, depth, big_endian, true_colour
        self.max = (rmax, gmax, bmax)
        self.shift = (rshift, gshift, bshift)

    @classmethod
    def unpack(cls, b):
        import struct
        bpp, depth, be, tc, rmax, gmax, bmax, rs, gs, bs = struct.unpack('>BBBBHHHBBB3x', b)
        return cls(bpp, depth, be, tc, rmax, gmax, bmax, rs, gs, bs)

    def supported(self):
        return self.true_colour and self.bpp in (8, 16, 32) and all(0 < m < 65536 for m in self.max)

    def convert(self, raw):
        if (self.bpp, self.big_endian, self.max, self.shift) == (32, 0, (255, 255, 255), (16, 8, 0)):
            return raw
        if self.bpp == 32 and self.max == (255, 255, 255) and all(s % 8 == 0 and s <= 24 for s in self.shift):
            pos = [(s // 8) if not self.big_endian else 3 - s // 8 for s in self.shift]
            if len(set(pos)) == 3:
                out = bytearray(len(raw))
                out[pos[0]::4] = raw[2::4]
                out[pos[1]::4] = raw[1::4]
                out[pos[2]::4] = raw[0::4]
                return bytes(out)
        return self._convert_slow(raw)

    def _convert_slow(self, raw):
        nbytes = self.bpp // 8
        order = 'big' if self.big_endian else 'little'
        (rm, gm, bm), (rs, gs, bs) = self.max, self.shift
        cache = {}
        out = bytearray()
        for i in range(0, len(raw), 4):
            key = raw[i:i + 3]
            v = cache.get(key)
            if v is None:
                b, g, r = key
                n = ((r * rm // 255) << rs) | ((g * gm // 255) << gs) | ((b * bm // 255) << bs)
                v = cache[key] = (n & ((1 << self.bpp) - 1)).to_bytes(nbytes, order)
            out += v
        return bytes(out)
