"""XAPI wire representations: XAPI type strings, XML-RPC and JSON-RPC encoders.

XML-RPC follows what xapi's ocaml-rpc writer (Xmlrpc.to_string) emits:
  int (int64)   -> <value>123</value>            (untyped value = XML-RPC string)
  int32         -> <value><i4>123</i4></value>    (only event.from valid_ref_counts)
  float         -> <value><double>%.16g</double></value>
  bool          -> <value><boolean>1|0</boolean></value>
  string/enum/ref -> <value>text</value>          (untyped, escaped & < > ")
  datetime      -> <value><dateTime.iso8601>20231010T10:20:30Z</dateTime.iso8601></value>
  set           -> <value><array><data>...</data></array></value>
  map / record  -> <value><struct><member><name>k</name>v</member>...</struct></value>
JSON-RPC follows Jsonrpc.to_string: int -> number, float -> number, bool -> true/false,
datetime -> "20231010T10:20:30Z" string, sets -> arrays, maps/records -> objects.
"""
import json
import re

_ESC_RE = re.compile(r'[&<>"\x00-\x08\x0b\x0c\x0e-\x1f]')
_CTRL_RE = re.compile(r'[\x00-\x08\x0b\x0c\x0e-\x1f]')


def esc(s):
    if _ESC_RE.search(s) is None:
        return s
    s = s.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;').replace('"', '&quot;')
    return _CTRL_RE.sub('', s)


class DT(str):
    """A XAPI DateTime value (kept as its wire string, e.g. 20231010T10:20:30Z)."""
    __slots__ = ()


NULL_REF = 'OpaqueRef:NULL'
EPOCH = DT('19700101T00:00:00Z')


def parse_type(t):
    t = t.strip()
    if t.startswith('(') and t.endswith(') map'):
        inner = t[1:-5]
        k, v = inner.split(' -> ', 1)
        return ('map', parse_type(k), parse_type(v))
    if t.endswith(' set'):
        return ('set', parse_type(t[:-4]))
    if t.endswith(' ref'):
        return ('ref', t[:-4])
    if t.endswith(' record'):
        return ('record', t[:-7])
    if t.startswith('enum '):
        return ('enum', t[5:])
    return (t,)


def default_value(tp):
    k = tp[0]
    if k in ('string', 'enum'):
        return ''
    if k == 'int':
        return 0
    if k == 'float':
        return 0.0
    if k == 'bool':
        return False
    if k == 'datetime':
        return EPOCH
    if k == 'ref':
        return NULL_REF
    if k == 'set':
        return []
    if k == 'map':
        return {}
    return ''


def coerce(tp, v):
    """Convert a parameter received over XML-RPC/JSON-RPC to the internal value of type tp.
    Raises ValueError/TypeError on a mismatch."""
    k = tp[0]
    if k == 'int':
        if isinstance(v, bool):
            raise TypeError('bool for int')
        return int(v)
    if k == 'float':
        return float(v)
    if k == 'bool':
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ('true', 'false', '1', '0'):
            return v.lower() in ('true', '1')
        if isinstance(v, int):
            return bool(v)
        raise TypeError('not a bool')
    if k == 'datetime':
        if hasattr(v, 'strftime'):
            return DT(v.strftime('%Y%m%dT%H:%M:%SZ'))
        return DT(str(v))
    if k in ('string', 'enum', 'ref'):
        if not isinstance(v, str):
            raise TypeError('not a string')
        return v
    if k == 'set':
        if not isinstance(v, (list, tuple)):
            raise TypeError('not an array')
        return [coerce(tp[1], x) for x in v]
    if k == 'map':
        if not isinstance(v, dict):
            raise TypeError('not a struct')
        return {str(kk): coerce(tp[2], vv) for kk, vv in v.items()}
    return v


# ---------------------------------------------------------------- XML encoders
_xml_cache = {}
RECORD_XML = {}   # class name -> function(row) -> str, filled by simdb


def _fmt_float(f):
    return '%.16g' % f


def xml_encoder(tp):
    key = repr(tp)
    enc = _xml_cache.get(key)
    if enc is not None:
        return enc
    k = tp[0]
    if k in ('string', 'enum'):
        def enc(v):
            return '<value>' + esc(v) + '</value>'
    elif k == 'ref':
        def enc(v):
            return '<value>' + esc(v) + '</value>'
    elif k == 'int':
        def enc(v):
            return '<value>' + str(int(v)) + '</value>'
    elif k == 'int32':
        def enc(v):
            return '<value><i4>' + str(int(v)) + '</i4></value>'
    elif k == 'float':
        def enc(v):
            return '<value><double>' + _fmt_float(v) + '</double></value>'
    elif k == 'bool':
        def enc(v):
            return '<value><boolean>1</boolean></value>' if v else '<value><boolean>0</boolean></value>'
    elif k == 'datetime':
        def enc(v):
            return '<value><dateTime.iso8601>' + v + '</dateTime.iso8601></value>'
    elif k == 'set':
        sub = xml_encoder(tp[1])

        def enc(v):
            if not v:
                return '<value><array><data></data></array></value>'
            return '<value><array><data>' + ''.join([sub(x) for x in v]) + '</data></array></value>'
    elif k == 'map':
        sub = xml_encoder(tp[2])

        def enc(v):
            if not v:
                return '<value><struct></struct></value>'
            return '<value><struct>' + ''.join(['<member><name>' + esc(str(kk)) + '</name>' + sub(vv) + '</member>'
                                                for kk, vv in v.items()]) + '</struct></value>'
    elif k == 'record':
        cls = tp[1]

        def enc(v):
            return RECORD_XML[cls](v)
    elif k == 'void':
        def enc(v):
            return '<value></value>'
    elif k == 'any':
        enc = xml_any
    else:
        def enc(v):
            return '<value>' + esc(str(v)) + '</value>'
    _xml_cache[key] = enc
    return enc


def xml_any(v):
    """Encode an untyped Python value the way XAPI would for the closest type."""
    if isinstance(v, bool):
        return '<value><boolean>1</boolean></value>' if v else '<value><boolean>0</boolean></value>'
    if isinstance(v, int):
        return '<value>' + str(v) + '</value>'
    if isinstance(v, float):
        return '<value><double>' + _fmt_float(v) + '</double></value>'
    if isinstance(v, DT):
        return '<value><dateTime.iso8601>' + v + '</dateTime.iso8601></value>'
    if isinstance(v, str):
        return '<value>' + esc(v) + '</value>'
    if isinstance(v, (list, tuple)):
        return '<value><array><data>' + ''.join(xml_any(x) for x in v) + '</data></array></value>'
    if isinstance(v, dict):
        return '<value><struct>' + ''.join('<member><name>' + esc(str(k)) + '</name>' + xml_any(x) + '</member>'
                                           for k, x in v.items()) + '</struct></value>'
    if v is None:
        return '<value><nil/></value>'
    return '<value>' + esc(str(v)) + '</value>'


def compile_record_xml(fields):
    """fields: list of (name, tp). Returns f(row) -> '<value><struct>...</struct></value>'."""
    items = []   # ('c', const) | ('e', expr)
    env = {'E': esc, 'F': _fmt_float}

    def c(s):
        if items and items[-1][0] == 'c':
            items[-1] = ('c', items[-1][1] + s)
        else:
            items.append(('c', s))

    c('<value><struct>')
    for i, (name, tp) in enumerate(fields):
        c('<member><name>' + name + '</name>')
        k = tp[0]
        if k in ('string', 'enum', 'ref'):
            c('<value>')
            items.append(('e', 'E(r[%d])' % i))
            c('</value>')
        elif k == 'int':
            c('<value>')
            items.append(('e', 'str(r[%d])' % i))
            c('</value>')
        elif k == 'float':
            c('<value><double>')
            items.append(('e', 'F(r[%d])' % i))
            c('</double></value>')
        elif k == 'bool':
            c('<value><boolean>')
            items.append(('e', "('1' if r[%d] else '0')" % i))
            c('</boolean></value>')
        elif k == 'datetime':
            c('<value><dateTime.iso8601>')
            items.append(('e', 'r[%d]' % i))
            c('</dateTime.iso8601></value>')
        else:
            fn = 'X%d' % i
            env[fn] = xml_encoder(tp)
            items.append(('e', '%s(r[%d])' % (fn, i)))
        c('</member>')
    c('</struct></value>')
    parts = []
    for kind, s in items:
        parts.append(repr(s) if kind == 'c' else s)
    src = 'def ser(r):\n    return "".join((%s,))\n' % ', '.join(parts)
    exec(src, env)
    return env['ser']


def xml_response_head():
    return ('<?xml version="1.0"?><methodResponse><params><param><value><struct>'
            '<member><name>Status</name><value>Success</value></member><member><name>Value</name>')


XML_RESPONSE_TAIL = '</member></struct></value></param></params></methodResponse>'


def xml_failure(code, params):
    return ('<?xml version="1.0"?><methodResponse><params><param><value><struct>'
            '<member><name>Status</name><value>Failure</value></member>'
            '<member><name>ErrorDescription</name><value><array><data>'
            + ''.join('<value>' + esc(str(p)) + '</value>' for p in [code] + list(params))
            + '</data></array></value></member></struct></value></param></params></methodResponse>')


# ---------------------------------------------------------------- JSON
_json_enc = json.JSONEncoder(ensure_ascii=False, separators=(',', ':'))
json_dumps = _json_enc.encode
