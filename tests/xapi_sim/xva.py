"""XVA, XAPI's VM export format, written and read as XAPI does (ocaml/xapi/export.ml,
import.ml, stream_vdi.ml, importexport.ml):

  a tar stream: "ova.xml" first (an XML-RPC struct {version, objects: [{class, id, snapshot}]}
  where every exported reference is replaced by an id "Ref:N"), then for each disk, in the
  lexicographic order of its id, chunks "Ref:N/%08d" of 1 MiB, each followed by
  "Ref:N/%08d.xxhash" (16 upper-case hex digits of XXH64); all-zero chunks are skipped
  except the first and the last; then two zero blocks.

Export builds the metadata under the store lock and streams disk content (vdisk.Disk) chunk
by chunk. Import reads one member at a time from a read_exact function. Neither knows HTTP
(transfer.py does)."""
import hashlib
import itertools
import xmlrpc.client

import tarstream
import vdisk
import wire
import xxh64
from poolgen import ALLOWED_OPS, VBD_OPS, VDI_OPS, VIF_OPS
from simdb import ApiError, CLASSES, now_dt
from wire import EPOCH, NULL_REF

EXPORT_VSN = 2
OVA = 'ova.xml'
MAX_OVA = 64 << 20

def xapi_failure(exn_text):
    """The error XAPI's import reports for an OCaml exception it did not map:
    IMPORT_ERROR [ExnHelper.string_of_exn e]."""
    return ApiError('IMPORT_ERROR', 'INTERNAL_ERROR: [ %s ]' % exn_text)


def invalid_xva():
    return xapi_failure('Stream_vdi.Failure("Invalid XVA file")')


# ---------------------------------------------------------------- export: metadata
class Export:
    """What one export sends: ova.xml and the disks to stream (export.ml vm_metadata + export)."""

    def __init__(self, sim, vm, host, preserve_power_state=False):
        st = sim.store
        self.sim = sim
        with st.lock:
            # XAPI numbers ids with one counter for the life of the process and stamps ova.xml
            # with the time; here ids count from 0 in each export and every mtime is 0, so the
            # same VM always exports to the same bytes
            self.ids = itertools.count()
            self.table = {}
            self._update_table(st, vm, preserve_power_state)
            objects = self._make_all(st, preserve_power_state)
            self.ova = self._ova_xml(st, host, objects).encode('utf-8')
            disks = []
            for vdi in self._streamed_vdis(st, vm, preserve_power_state):
                disks.append((self.table[vdi], vdi, sim.disk(vdi).copy()))
        # stream_vdi.ml for_each_vdi: lexicographic order of the ids ("Ref:10" < "Ref:9")
        self.disks = sorted(disks, key=lambda d: d[0])

    def _add(self, r):
        # NULL is added like any reference (export.ml does too), so NULL fields of the
        # exported objects read "Ref:N" when NULL was met first in a looked-up field
        if r not in self.table:
            self.table[r] = 'Ref:%d' % next(self.ids)

    def _add_vdi(self, st, vdi):
        self._add(vdi)
        self._add(st.get('VDI', vdi, 'SR'))

    def _update_table(self, st, vm, preserve):
        self._add(vm)
        row = CLASSES['VM'].to_dict(st.get_row('VM', vm))
        for vif in row['VIFs']:
            if vif in st.tables['VIF']:
                self._add(vif)
                self._add(st.get('VIF', vif, 'network'))
        for vbd in row['VBDs']:
            if vbd in st.tables['VBD']:
                self._add(vbd)
                if not st.get('VBD', vbd, 'empty') and st.get('VBD', vbd, 'VDI') in st.tables['VDI']:
                    self._add_vdi(st, st.get('VBD', vbd, 'VDI'))
        if preserve and row['power_state'] == 'Suspended' and row['suspend_VDI'] in st.tables['VDI']:
            self._add_vdi(st, row['suspend_VDI'])
        for f in ('metrics', 'guest_metrics', 'resident_on', 'affinity'):
            self._add(row[f])

    def _lookup(self, r):
        return self.table.get(r, NULL_REF)

    def _filter(self, refs):
        return [self.table[r] for r in refs if r in self.table]

    def _transform(self, cls, row, preserve):
        """The record as export.ml's make_<class> writes it: references mapped to ids (or NULL),
        links to objects outside the export dropped, runtime state cleared."""
        d = CLASSES[cls].to_dict(row)
        lk, fl = self._lookup, self._filter
        if cls == 'VM':
            d.update(power_state=d['power_state'] if preserve else 'Halted',
                     suspend_VDI=lk(d['suspend_VDI']) if preserve else NULL_REF,
                     is_a_snapshot=False, snapshot_of=NULL_REF, snapshots=[], snapshot_time=EPOCH,
                     transportable_snapshot_id='', parent=NULL_REF, current_operations={},
                     allowed_operations=[], VIFs=fl(d['VIFs']), VBDs=fl(d['VBDs']), crash_dumps=[], VTPMs=[],
                     resident_on=lk(d['resident_on']), affinity=lk(d['affinity']), consoles=[],
                     metrics=lk(d['metrics']), guest_metrics=lk(d['guest_metrics']), protection_policy=NULL_REF,
                     blobs={})
            if 'VGPUs' in d:
                d['VGPUs'] = []
        elif cls == 'VBD':
            d.update(currently_attached=d['currently_attached'] if preserve else False, VDI=lk(d['VDI']),
                     VM=lk(d['VM']), metrics=NULL_REF, current_operations={}, allowed_operations=[])
        elif cls == 'VIF':
            d.update(currently_attached=d['currently_attached'] if preserve else False,
                     network=lk(d['network']), VM=lk(d['VM']), metrics=NULL_REF, current_operations={},
                     allowed_operations=[])
        elif cls == 'network':
            d.update(VIFs=fl(d['VIFs']), PIFs=[], current_operations={}, allowed_operations=[])
        elif cls == 'VDI':
            d.update(VBDs=fl(d['VBDs']), crash_dumps=[], SR=lk(d['SR']), current_operations={},
                     allowed_operations=[])
        elif cls == 'SR':
            d.update(VDIs=fl(d['VDIs']), PBDs=[], current_operations={}, allowed_operations=[])
        elif cls == 'host':
            for f, v in (('PIFs', []), ('PBDs', []), ('PGPUs', []), ('PCIs', []), ('host_CPUs', []),
                         ('license_params', {}), ('blobs', {}), ('external_auth_type', ''),
                         ('external_auth_service_name', ''), ('external_auth_configuration', {}),
                         ('metrics', NULL_REF), ('patches', []), ('crashdumps', []), ('logging', {}),
                         ('supported_bootloaders', []), ('cpu_configuration', {}), ('other_config', {}),
                         ('capabilities', []), ('software_version', {}), ('sched_policy', ''),
                         ('ha_statefiles', []), ('ha_network_peers', []), ('tags', [])):
                d[f] = v
            d.update(crash_dump_sr=lk(d['crash_dump_sr']), suspend_image_sr=lk(d['suspend_image_sr']),
                     resident_VMs=fl(d['resident_VMs']))
        return [d[n] for n in CLASSES[cls].names]

    def _make_all(self, st, preserve):
        out = []
        for cls in ('host', 'VM', 'VM_metrics', 'VM_guest_metrics', 'VBD', 'VIF', 'network', 'VDI', 'SR'):
            for ref, row in st.tables[cls].items():
                if ref in self.table:
                    out.append((cls, self.table[ref], self._transform(cls, row, preserve)))
        return out

    def _ova_xml(self, st, host, objects):
        sv = st.get('host', host, 'software_version')
        major, _, minor = sv.get('xapi', '1.20').partition('.')
        version = [('hostname', sv.get('hostname', 'localhost')), ('date', sv.get('date', '')),
                   ('product_version', sv.get('product_version', '')),
                   ('product_brand', sv.get('product_brand', '')), ('build_number', sv.get('build_number', '')),
                   ('xapi_major', int(major or 1)), ('xapi_minor', int(minor or 0)), ('export_vsn', EXPORT_VSN)]
        parts = ['<value><struct><member><name>version</name><value><struct>']
        for k, v in version:
            # Rpc.Int and Rpc.String are both untyped <value>s in ocaml-rpc's Xmlrpc
            parts.append('<member><name>%s</name><value>%s</value></member>' % (k, wire.esc(str(v))))
        parts.append('</struct></value></member><member><name>objects</name><value><array><data>')
        for cls, oid, row in objects:
            parts.append('<value><struct><member><name>class</name><value>%s</value></member>'
                         '<member><name>id</name><value>%s</value></member><member><name>snapshot</name>'
                         % (cls, oid))
            parts.append(CLASSES[cls].xml(row))
            parts.append('</member></struct></value>')
        parts.append('</data></array></value></member></struct></value>')
        return ''.join(parts)

    def _streamed_vdis(self, st, vm, preserve):
        """Disks of non-CD VBDs (and the suspend image), not on an ISO SR, in the table."""
        out = []
        for vbd in st.get('VM', vm, 'VBDs'):
            if vbd in st.tables['VBD'] and st.get('VBD', vbd, 'type') != 'CD':
                out.append(st.get('VBD', vbd, 'VDI'))
        if preserve and st.get('VM', vm, 'power_state') == 'Suspended':
            out.insert(0, st.get('VM', vm, 'suspend_VDI'))
        return [v for v in out if v in st.tables['VDI'] and v in self.table
                and st.get('SR', st.get('VDI', v, 'SR'), 'content_type') != 'iso']

    # ------------------------------------------------------------ export: the stream
    def total(self):
        return sum(d.virtual_size for _, _, d in self.disks)

    def stream(self, progress=None, keep_going=None):
        """The XVA bytes, a member at a time. progress(done, total) after each chunk (done counts
        every chunk scanned, zeros included, as stream_vdi.ml); keep_going() is asked before
        each chunk and stops the stream when false (a cancelled task)."""
        yield tarstream.member(OVA, self.ova)
        total, done = self.total(), 0
        for prefix, _, disk in self.disks:
            n = disk.n_chunks()
            wanted = set(disk.nonzero())
            if n:
                wanted |= {0, n - 1}          # "always include the first and last blocks"
            for i in sorted(wanted):
                if keep_going is not None and not keep_going():
                    return
                data = disk.chunk(i)
                name = '%s/%08d' % (prefix, i)
                yield tarstream.header(name, len(data)) + data + tarstream.padding(len(data))
                yield tarstream.member(name + '.xxhash', disk.sums(i)[1].encode())
                if progress is not None:
                    progress(done + (i + 1) * vdisk.CHUNK, total)
            done += n * vdisk.CHUNK
        yield tarstream.END


# ---------------------------------------------------------------- import: metadata
def parse_ova(xml):
    """{version, objects} from ova.xml (an XML-RPC value). Raises ApiError."""
    text = xml.decode('utf-8', 'replace')
    if text.startswith('<?xml'):
        text = text[text.index('?>') + 2:]
    try:
        value = xmlrpc.client.loads('<methodResponse><params><param>%s</param></params></methodResponse>'
                                    % text, use_builtin_types=False)[0][0]
        version = value['version']
        objects = [{'cls': o['class'], 'id': o['id'], 'snapshot': o['snapshot']} for o in value['objects']]
        vsn = {k: version[k] for k in ('hostname', 'date', 'product_version', 'product_brand', 'build_number')}
        vsn['xapi_major'] = int(version['xapi_major'])
        vsn['xapi_minor'] = int(version['xapi_minor'])
        vsn['export_vsn'] = int(version.get('export_vsn', 0))
    except Exception as e:
        raise xapi_failure('Failure("ova.xml: %s")' % str(e)[:200])
    return vsn, objects


def _is_ref_type(tp):
    return tp[0] == 'ref' or (tp[0] == 'set' and tp[1][0] == 'ref') or \
        (tp[0] == 'map' and (tp[1][0] == 'ref' or tp[2][0] == 'ref'))


def _copy_fields(cls, snap, skip=()):
    """The values of `snap` for the non-reference fields of `cls`, coerced to their types
    (ova.xml carries ints as strings); fields that do not convert are left out."""
    ci = CLASSES[cls]
    out = {}
    for name, tp, _ in ci.fields:
        if name in skip or name not in snap or _is_ref_type(tp):
            continue
        try:
            out[name] = wire.coerce(tp, snap[name])
        except (TypeError, ValueError):
            pass
    return out


class Import:
    """One VM import (import.ml stream_import): create the objects from ova.xml, then receive
    the disks, checking every chunk's checksum. On failure everything created is destroyed
    (unless force), so no half VM stays."""

    def __init__(self, sim, sr, task=None, restore=False, force=False, progress=None):
        self.sim = sim
        self.sr = sr
        self.task = task
        self.restore = restore
        self.force = force
        self.progress = progress
        self.table = {}            # export id -> new ref
        self.undo = []             # cleanup actions, most recent last
        self.vms = []
        self.new_vdis = {}         # export id -> (vdi ref, virtual size)
        self.received = 0

    # -- entry point
    def run(self, reader, ova_size):
        """reader: a tarstream.Reader just after the header of ova.xml (of `ova_size` bytes).
        Returns the imported VM refs. Raises ApiError (the task's error)."""
        try:
            if ova_size > MAX_OVA:
                raise xapi_failure('Failure("ova.xml is larger than %d bytes")' % MAX_OVA)
            return self._run(reader, ova_size)
        except EOFError:
            self._cleanup()
            raise ApiError('IMPORT_ERROR_PREMATURE_EOF')
        except tarstream.TarError as e:
            self._cleanup()
            raise xapi_failure('Failure("%s")' % e)
        except ApiError:
            self._cleanup()
            raise

    def _cleanup(self):
        if self.force:
            return
        for action in reversed(self.undo):
            try:
                action()
            except ApiError:
                pass
        self.undo = []

    def _run(self, reader, ova_size):
        xml = reader.read(ova_size)
        version, objects = parse_ova(xml)
        self._assert_compatible(version)
        by_id = {o['id']: o for o in objects}
        with self.sim.store.lock:
            self._create_all(objects, by_id)
        if self.task:
            try:
                self.sim.store.map_put('task', self.task, 'other_config', 'object_creation', 'complete')
            except ApiError:
                pass
        streams = self._disk_streams(objects, by_id)
        total = sum(size for _, _, size in streams) or 1
        for prefix, vdi, size in sorted(streams, key=lambda s: s[0]):
            self._recv_vdi(reader, prefix, vdi, size, total, version['export_vsn'] > 0)
        if version['export_vsn'] < 2:
            # pre-Miami exports end with a checksum table (already checked inline here)
            entry = reader.next()
            if entry is not None:
                reader.read(entry[1])
        return self._complete()

    def _assert_compatible(self, version):
        st = self.sim.store
        sv = st.get('host', self.sim.master_ref, 'software_version')
        major, _, minor = sv.get('xapi', '1.20').partition('.')
        if (version['xapi_major'], version['xapi_minor']) > (int(major or 1), int(minor or 0)):
            raise ApiError('IMPORT_INCOMPATIBLE_VERSION')

    # -- objects (import.ml handlers, in their order)
    def _find(self, by_id, oid):
        o = by_id.get(oid)
        if o is None:
            raise ApiError('IMPORT_ERROR_FAILED_TO_FIND_OBJECT', oid)
        return o

    def _create_all(self, objects, by_id):
        of = {}
        for o in objects:
            of.setdefault(o['cls'], []).append(o)
        for o in of.get('VDI', []):
            self._vdi(o, by_id)
        for o in of.get('VM', []):
            self._vm(o, by_id)
        for o in of.get('network', []):
            self._network(o)
        for o in of.get('VBD', []):
            self._vbd(o)
        for o in of.get('VIF', []):
            self._vif(o)

    def _vdi(self, o, by_id):
        st = self.sim.store
        snap = o['snapshot']
        src_sr = self._find(by_id, snap.get('SR', ''))['snapshot']
        if src_sr.get('content_type') == 'iso':
            # an ISO: found again by location in an ISO SR, else the drive will be empty
            for ref, row in st.tables['VDI'].items():
                d = CLASSES['VDI'].to_dict(row)
                if d['location'] == snap.get('location') and st.get('SR', d['SR'], 'content_type') == 'iso':
                    self.table[o['id']] = ref
                    return
            return
        vals = _copy_fields('VDI', snap, skip=('uuid', 'allowed_operations', 'current_operations',
                                               'physical_utilisation', 'storage_lock', 'missing',
                                               'is_a_snapshot', 'snapshot_time', 'cbt_enabled', 'is_tools_iso'))
        size = vals.get('virtual_size', 0)
        self.sim.assert_sr_space(self.sr, size if self._thick() else 0)
        vals.update(SR=self.sr, VBDs=[], allowed_operations=VDI_OPS, managed=True, physical_utilisation=0)
        with st.lock:
            ref = st.create('VDI', vals, rng=self.sim.rt_rng)
            st.modify('VDI', ref, {'location': st.get('VDI', ref, 'uuid')})
            st.add_to_set('SR', self.sr, 'VDIs', ref)
            self.sim.disks[ref] = vdisk.Disk(size, budget=self.sim.raw_budget)
            self.sim.sr_charge(ref, self.sr, size if self._thick() else 0, size)
        self.undo.append(lambda r=ref: self.sim.vdi_destroy(None, r))
        self.table[o['id']] = ref
        self.new_vdis[o['id']] = (ref, size)

    def _thick(self):
        return self.sim.sr_is_thick(self.sr)

    def _vm(self, o, by_id):
        st = self.sim.store
        snap = o['snapshot']
        uuid = snap.get('uuid', '')
        if self.restore and uuid in st.by_uuid['VM']:
            old = st.by_uuid['VM'][uuid]
            ps = st.get('VM', old, 'power_state')
            if ps != 'Halted':
                if self.force:
                    return
                raise ApiError('VM_BAD_POWER_STATE', old, 'halted', ps.lower())
            self.sim.vm_destroy(None, old)
        vals = _copy_fields('VM', snap, skip=('uuid', 'allowed_operations', 'current_operations', 'power_state',
                                              'domid', 'domarch', 'is_control_domain', 'memory_target'))
        other = dict(vals.get('other_config', {}))
        if not self.restore:
            other['mac_seed'] = st.new_uuid(self.sim.rt_rng)
            vals['version'] = 0
        else:
            vals['uuid'] = uuid
            vals['version'] = int(vals.get('version', 0)) + 1
        template = bool(vals.get('is_a_template'))
        vals.update(other_config=other, power_state='Halted', domid=-1, domarch='', is_control_domain=False,
                    allowed_operations=ALLOWED_OPS['template' if template else 'Halted'],
                    current_operations={self.task: 'import'} if self.task else {}, memory_target=0)
        metrics_snap = by_id.get(snap.get('metrics', ''), {}).get('snapshot', {})
        gm_snap = by_id.get(snap.get('guest_metrics', ''), {}).get('snapshot')
        with st.lock:
            mvals = _copy_fields('VM_metrics', metrics_snap, skip=('uuid', 'memory_actual', 'VCPUs_number',
                                                                  'VCPUs_utilisation', 'state', 'start_time'))
            mvals.update(memory_actual=0, VCPUs_number=0, start_time=EPOCH,
                         install_time=mvals.get('install_time', now_dt()))
            vals['metrics'] = st.create('VM_metrics', mvals, rng=self.sim.rt_rng)
            if gm_snap is not None and not template:
                gvals = _copy_fields('VM_guest_metrics', gm_snap, skip=('uuid',))
                gvals['live'] = False
                vals['guest_metrics'] = st.create('VM_guest_metrics', gvals, rng=self.sim.rt_rng)
            vm = st.create('VM', vals, rng=self.sim.rt_rng)
            self.sim.vm_list.append(vm)
        self.undo.append(lambda r=vm: self.sim.vm_destroy(None, r))
        self.table[o['id']] = vm
        self.vms.append(vm)

    def _network(self, o):
        st = self.sim.store
        snap = o['snapshot']
        for key in ('name_label', 'bridge'):
            for ref, row in st.tables['network'].items():
                if snap.get(key) and CLASSES['network'].to_dict(row)[key] == snap[key]:
                    self.table[o['id']] = ref
                    return
        vals = _copy_fields('network', snap, skip=('uuid', 'allowed_operations', 'current_operations'))
        ref = st.create('network', vals, rng=self.sim.rt_rng)
        self.undo.append(lambda r=ref: st.delete('network', r))
        self.table[o['id']] = ref

    def _vbd(self, o):
        st = self.sim.store
        snap = o['snapshot']
        vm = self.table.get(snap.get('VM'))
        if vm is None:
            return
        vdi = self.table.get(snap.get('VDI'), NULL_REF)
        vals = _copy_fields('VBD', snap, skip=('uuid', 'allowed_operations', 'current_operations',
                                               'currently_attached', 'storage_lock', 'status_code'))
        vals.update(VM=vm, VDI=vdi, currently_attached=False, device='', allowed_operations=VBD_OPS,
                    empty=vdi == NULL_REF)
        ref = st.create('VBD', vals, rng=self.sim.rt_rng)
        st.add_to_set('VM', vm, 'VBDs', ref)
        if vdi != NULL_REF:
            st.add_to_set('VDI', vdi, 'VBDs', ref)
        self.table[o['id']] = ref

    def _vif(self, o):
        st = self.sim.store
        snap = o['snapshot']
        vm = self.table.get(snap.get('VM'))
        net = self.table.get(snap.get('network'))
        if vm is None or net is None:
            return
        vals = _copy_fields('VIF', snap, skip=('uuid', 'allowed_operations', 'current_operations',
                                               'currently_attached'))
        vals.update(VM=vm, network=net, currently_attached=False, allowed_operations=VIF_OPS)
        ref = st.create('VIF', vals, rng=self.sim.rt_rng)
        st.add_to_set('VM', vm, 'VIFs', ref)
        st.add_to_set('network', net, 'VIFs', ref)
        self.table[o['id']] = ref

    def _disk_streams(self, objects, by_id):
        """(id, new VDI, virtual size) of the disks the stream carries (import.ml non_cdrom_vdis)."""
        disk_vdis = set()
        for o in objects:
            if o['cls'] == 'VBD' and o['snapshot'].get('type') != 'CD':
                disk_vdis.add(o['snapshot'].get('VDI'))
        out = []
        for o in objects:
            if o['cls'] != 'VDI' or o['id'] not in self.new_vdis:
                continue
            if o['id'] in disk_vdis or o['snapshot'].get('type') == 'suspend':
                ref, size = self.new_vdis[o['id']]
                out.append((o['id'], ref, size))
        return out

    # -- disks (stream_vdi.ml recv_all_vdi)
    def _recv_vdi(self, reader, prefix, vdi, size, total, inline_checksums):
        disk = self.sim.disks[vdi]
        thin = not self._thick()
        last_suffix, offset, first_len = '-1', 0, getattr(self, 'first_len', -1)
        while size - offset > 0:
            if self._cancelling():
                raise ApiError('TASK_CANCELLED', self.task)
            entry = reader.next()
            if entry is None:
                raise EOFError()
            name, length = entry
            if first_len < 0:
                # the first chunk of the stream sets the length of skipped chunks, as XAPI
                first_len = self.first_len = length
            if not name.startswith(prefix):
                raise invalid_xva()
            suffix = name[len(prefix) + 1:]
            if suffix <= last_suffix:
                raise invalid_xva()
            try:
                skipped = first_len * (int(suffix) - int(last_suffix) - 1)
            except ValueError:
                raise invalid_xva()
            offset += skipped
            data = reader.read(length)
            grown = disk.write(offset, data)
            if thin:
                self.sim.assert_sr_space(self.sr, grown)
                self.sim.sr_charge(vdi, self.sr, grown, 0, emit=False)
            csum_name, csum_len = reader.next() or (None, 0)
            if csum_name is None:
                raise EOFError()
            expected = reader.read(csum_len).decode('latin-1')
            if csum_name.endswith('.xxhash'):
                got = disk_checksum(disk, offset, data, 'xxhash')
            elif csum_name.endswith('.checksum'):
                got = disk_checksum(disk, offset, data, 'sha1')
            else:
                raise xapi_failure('Stream_vdi.Failure("Found unsupported checksum file: %s")' % csum_name)
            if inline_checksums and expected != got and not self.force:
                raise xapi_failure('Stream_vdi.Invalid_checksum("Block %s checksum failed: original = %s; '
                                   'recomputed = %s")' % (name, expected, got))
            offset += length
            last_suffix = suffix
            self.received += skipped + length
            if self.progress is not None:
                self.progress(self.received, total)

    def _cancelling(self):
        """task.cancel of the import's task was asked: Stream_vdi.recv_all checks between
        blocks (every ten seconds in XAPI, every chunk here, as the export) and raises
        TASK_CANCELLED; what the import created is then destroyed."""
        st = self.sim.store
        return bool(self.task) and self.task in st.tables['task'] and \
            st.get('task', self.task, 'status') == 'cancelling'

    def _complete(self):
        st = self.sim.store
        with st.lock:
            for oid, (vdi, size) in self.new_vdis.items():
                disk = self.sim.disks.get(vdi)
                used = size if self._thick() else (disk.allocated() if disk else 0)
                st.modify('VDI', vdi, {'physical_utilisation': used})
            self.sim.sr_charge(None, self.sr, 0, 0)       # one SR event for the bytes written
            for vm in self.vms:
                if vm in st.tables['VM'] and self.task:
                    st.map_del('VM', vm, 'current_operations', self.task)
            vms = [v for v in self.vms if v in st.tables['VM']]
            plain = [v for v in vms if not st.get('VM', v, 'is_a_snapshot')]
        self.undo = []
        return plain or vms


def disk_checksum(disk, offset, data, kind):
    """The checksum of a chunk just received: XXH64 text ("%016LX") or SHA-1 hex, using the
    cached sums when the chunk is one the simulator generated."""
    if kind == 'sha1':
        return hashlib.sha1(data).hexdigest()
    index, within = divmod(offset, vdisk.CHUNK)
    if within == 0 and len(data) == disk.chunk_len(index) and index in disk.chunks \
            and disk.chunks[index][0] == 'gen':
        return disk.sums(index)[1]
    return xxh64.xva_checksum(data)
