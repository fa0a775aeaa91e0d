"""Patching, as the three generations of it behave: XenServer's legacy pool_patch (.xsupdate
uploaded to /pool_patch_upload, ocaml/xapi/xapi_pool_patch.ml before 7.1), the update system
(an ISO uploaded into a VDI, pool_update.introduce/precheck/apply, xapi_pool_update.ml and
python3/extensions/pool_update.*; pool_patch then mirrors each update), and XCP-ng's yum
front end, the updater.py host plugin (xcp-ng-xapi-plugins).

A mixin of api.Sim: it uses the store, tasks and disk content; the HTTP upload is in
xapi_sim.py and transfer.py."""
import hashlib
import json
import random
import threading
import time
import xml.etree.ElementTree as ET

import iso9660
from simdb import ApiError, CLASSES, now_dt
from wire import NULL_REF

GUIDANCES = ('restartHVM', 'restartPV', 'restartHost', 'restartXAPI')
SIM_PATCH = b'XOSIMPATCH\n'
SIM_UPDATE = b'XOSIMUPDATE\n'
UPDATER_REPOS = ('xcp-ng-base', 'xcp-ng-updates')


def uses_update_system(software_version):
    """XenCenter's and Xen Orchestra's test: platform_version >= 2.1.1 (XenServer 7.1)."""
    try:
        v = tuple(int(x) for x in software_version.get('platform_version', '0').split('.')[:3])
    except ValueError:
        return True
    return v >= (2, 1, 1)


def patch_uuid_of_update_uuid(uuid):
    """xapi_pool_update.ml: the pool_patch mirroring an update has its uuid with bytes 4-7 zeroed."""
    h = bytearray.fromhex(uuid.replace('-', ''))
    h[4:8] = b'\0\0\0\0'
    s = h.hex()
    return '%s-%s-%s-%s-%s' % (s[:8], s[8:12], s[12:16], s[16:20], s[20:])


def _sim_header(head, magic):
    """The JSON metadata line after the simulator's magic, or None."""
    if not head.startswith(magic):
        return None
    try:
        return json.loads(head[len(magic):].split(b'\n', 1)[0].decode('utf-8'))
    except (ValueError, UnicodeDecodeError):
        return {}


def _uuid_from(sha):
    u = sha[:32]
    return '%s-%s-4%s-a%s-%s' % (u[:8], u[8:12], u[13:16], u[17:20], u[20:32])


def parse_update_xml(text):
    """update.xml as xapi_pool_update.ml parse_update_info reads it. Raises INVALID_UPDATE."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        raise ApiError('INVALID_UPDATE', 'missing <update> in update.xml')
    if root.tag != 'update':
        raise ApiError('INVALID_UPDATE', 'missing <update> in update.xml')
    a = root.attrib
    for key in ('uuid', 'name-label', 'version'):
        if key not in a:
            raise ApiError('INVALID_UPDATE', 'missing <%s> in update.xml' % key)
    desc = root.find('name-description')
    if desc is None:
        raise ApiError('INVALID_UPDATE', 'missing <name-description> in update.xml')
    try:
        size = int(a.get('installation-size', '0'))
    except ValueError:
        size = 0
    guidance = [g for g in a.get('after-apply-guidance', '').split(',') if g]
    if any(g not in GUIDANCES for g in guidance):
        guidance = []                     # an unknown guidance voids them all, as XAPI
    key = a.get('key', '')
    return {'uuid': a['uuid'], 'name_label': a['name-label'], 'name_description': desc.text or '',
            'version': a['version'], 'installation_size': size, 'after_apply_guidance': guidance,
            'key': key.rsplit('/', 1)[-1] if key else '',
            'enforce_homogeneity': a.get('enforce-homogeneity', 'false').lower() == 'true'}


def make_update_iso(uuid, name_label, version='1.0', guidance='restartHost', size=1 << 20, description='',
                    extra=None):
    """An update ISO as XenServer ships them (only update.xml matters here), for tests."""
    xml = ('<?xml version="1.0" ?>\n<update after-apply-guidance="%s" installation-size="%d" key="RPM-GPG-KEY-XS" '
           'name-label="%s" uuid="%s" version="%s">\n  <name-description>%s</name-description>\n</update>\n'
           % (guidance, size, name_label, uuid, version, description or name_label))
    files = {'UPDATE.XML': xml.encode()}
    files.update(extra or {})
    return iso9660.make_image(files)


class Patching:
    """pool_patch, pool_update and the updater.py plugin (mixed into api.Sim)."""

    def _init_patching(self, seed):
        self.updater = {}                 # host -> pending packages, installed ones, the plugin's lock
        self.precheck_errors = {}         # pool_update -> [code, params…] its precheck fails with
        rng = random.Random(seed + 99)
        for h in self.pool['hosts']:
            pending = [
                {'name': n, 'version': '%d.%d.%d' % (rng.randint(1, 9), rng.randint(0, 20), rng.randint(0, 9)),
                 'release': '%d.xcpng8.2' % rng.randint(1, 9), 'size': rng.randint(10000, 5000000),
                 'url': 'https://updates.xcp-ng.org/8/8.2/base/x86_64/%s.rpm' % n,
                 'description': 'Updated %s package' % n, 'license': 'GPLv2',
                 'changelog': {'date': 1704067200, 'author': 'Sim <sim@example.org>',
                               'description': '- Fix things in %s' % n}}
                for n in ('xapi-core', 'xen-hypervisor', 'sm')[:rng.randint(1, 3)]]
            self.updater[h] = {'pending': pending, 'installed': {}, 'op': None, 'until': 0.0,
                               'cond': threading.Condition(self.store.lock)}

    def _register_patching(self, m, void, t_str):
        m['host.call_plugin'] = (self.call_plugin, (5, 5), t_str)
        m['pool_patch.pool_apply'] = (self.patch_pool_apply, (2, 2), void)
        m['pool_patch.apply'] = (self.patch_apply, (3, 3), t_str)
        m['pool_patch.precheck'] = (self.patch_precheck, (3, 3), t_str)
        m['pool_patch.clean'] = (lambda s, p: None, (2, 2), void)
        m['pool_patch.pool_clean'] = (self.patch_pool_clean, (2, 2), void)
        m['pool_patch.destroy'] = (self.patch_destroy, (2, 2), void)
        m['pool_update.introduce'] = (self.update_introduce, (2, 2), ('ref', 'pool_update'))
        m['pool_update.precheck'] = (self.update_precheck, (3, 3), ('enum', 'livepatch_status'))
        m['pool_update.apply'] = (self.update_apply, (3, 3), void)
        m['pool_update.pool_apply'] = (self.update_pool_apply, (2, 2), void)
        m['pool_update.pool_clean'] = (self.update_pool_clean, (2, 2), void)
        m['pool_update.destroy'] = (self.update_destroy, (2, 2), void)

    def _update_system(self):
        return uses_update_system(self.store.get('host', self.master_ref, 'software_version'))

    def _xcp_ng(self):
        return self.store.get('host', self.master_ref, 'software_version').get('product_brand') == 'XCP-ng'

    # ------------------------------------------------------------ /pool_patch_upload
    def patch_upload(self, head, size, sha):
        """A legacy .xsupdate: recognised by the simulator's header XOSIMPATCH\\n{json}\\n (real ones
        are signed executables whose metadata XAPI gets by running them); else named after its
        SHA-256. Accepted on any version (XAPI 7.1+ would refuse it: it takes update ISOs)."""
        st = self.store
        meta = _sim_header(head, SIM_PATCH) or {}
        uuid = meta.get('uuid') or _uuid_from(sha)
        with st.lock:
            if uuid in st.by_uuid['pool_patch']:
                raise ApiError('PATCH_ALREADY_EXISTS', uuid)
            return st.create('pool_patch', {
                'uuid': uuid, 'name_label': meta.get('name_label', 'sim-%s' % sha[:8]),
                'name_description': meta.get('name_description', ''), 'version': meta.get('version', '1.0'),
                'size': size, 'pool_applied': False,
                'after_apply_guidance': meta.get('after_apply_guidance', ['restartHost']),
                'pool_update': NULL_REF}, rng=self.rt_rng)

    def is_legacy_patch(self, head):
        return head.startswith(SIM_PATCH) or not self._update_system()

    # ------------------------------------------------------------ pool_patch
    def _patch_update(self, patch):
        return self.store.get('pool_patch', patch, 'pool_update')

    def _host_patch_of(self, patch, host):
        st = self.store
        for hp in st.get('host', host, 'patches'):
            if hp in st.tables['host_patch'] and st.get('host_patch', hp, 'pool_patch') == patch:
                return hp
        return None

    def patch_precheck(self, s, patch, host):
        st = self.store
        st.get_row('pool_patch', patch)
        st.get_row('host', host)
        upd = self._patch_update(patch)
        if upd != NULL_REF:                       # a mirror of an update: forwarded to it
            self.update_precheck(s, upd, host)
            return ''
        if self._host_patch_of(patch, host) is not None:
            raise ApiError('PATCH_ALREADY_APPLIED', patch)
        return ''

    def patch_apply(self, s, patch, host):
        st = self.store
        with st.lock:
            st.get_row('pool_patch', patch)
            upd = self._patch_update(patch)
            if upd != NULL_REF:
                self.update_apply(s, upd, host)
                return ''
            self.patch_precheck(s, patch, host)
            self._write_host_patch(patch, host)
            if all(self._host_patch_of(patch, h) for h in self.pool['hosts']):
                st.modify('pool_patch', patch, {'pool_applied': True})
        return ''

    def _write_host_patch(self, patch, host):
        """xapi_pool_patch.ml write_patch_applied_db: the host_patch saying `patch` is on `host`."""
        st = self.store
        pr = CLASSES['pool_patch'].to_dict(st.get_row('pool_patch', patch))
        hp = st.create('host_patch', {'name_label': pr['name_label'], 'version': pr['version'], 'host': host,
                                      'applied': True, 'timestamp_applied': now_dt(), 'size': pr['size'],
                                      'pool_patch': patch}, rng=self.rt_rng)
        st.add_to_set('host', host, 'patches', hp)
        st.add_to_set('pool_patch', patch, 'host_patches', hp)

    def patch_pool_apply(self, s, patch):
        st = self.store
        with st.lock:
            st.get_row('pool_patch', patch)
            if self._patch_update(patch) != NULL_REF:
                for h in self.pool['hosts']:           # xapi_pool_patch.ml: apply on every host
                    self.patch_apply(s, patch, h)
                st.modify('pool_patch', patch, {'pool_applied': True})
                return
            todo = [h for h in self.pool['hosts'] if self._host_patch_of(patch, h) is None]
            if not todo:
                raise ApiError('PATCH_ALREADY_APPLIED', patch)
            for h in todo:
                self.patch_apply(s, patch, h)

    def patch_pool_clean(self, s, patch):
        upd = self._patch_update(patch)
        if upd != NULL_REF:
            self.update_pool_clean(s, upd)

    def patch_destroy(self, s, patch):
        st = self.store
        with st.lock:
            upd = self._patch_update(patch)
            if upd != NULL_REF:
                self.update_destroy(s, upd)
                return
            for hp in list(st.get('pool_patch', patch, 'host_patches')):
                if hp in st.tables['host_patch']:
                    host = st.get('host_patch', hp, 'host')
                    st.delete('host_patch', hp)
                    if host in st.tables['host']:
                        st.remove_from_set('host', host, 'patches', hp)
            st.delete('pool_patch', patch)

    # ------------------------------------------------------------ pool_update
    def update_info_of_vdi(self, vdi):
        """update.xml of the ISO in the VDI (or the simulator's XOSIMUPDATE header)."""
        self.wait_upload(vdi)
        disk = self.disk(vdi)
        c = self.vdi_content.get(vdi)
        head = disk.read(0, 65536)
        meta = _sim_header(head, SIM_UPDATE)
        if meta is not None:
            sha = c['sha256'] if c else hashlib.sha256(head).hexdigest()
            info = {'uuid': meta.get('uuid') or _uuid_from(sha), 'name_label': meta.get('name_label', 'sim-%s' % sha[:8]),
                    'name_description': meta.get('name_description', ''), 'version': meta.get('version', '1.0'),
                    'installation_size': int(meta.get('installation_size', c['size'] if c else 0)),
                    'after_apply_guidance': meta.get('after_apply_guidance', ['restartHost']),
                    'key': meta.get('key', ''), 'enforce_homogeneity': False,
                    'precheck_error': meta.get('precheck_error')}
            return info
        xml = iso9660.read_root_file(disk.read, 'update.xml')
        if xml is None:
            raise ApiError('INVALID_UPDATE', 'missing update document (update.xml) in the package.')
        return parse_update_xml(xml)

    def update_introduce(self, s, vdi):
        st = self.store
        st.get_row('VDI', vdi)
        if not self._update_system():
            raise ApiError('MESSAGE_METHOD_UNKNOWN', 'pool_update.introduce')
        info = self.update_info_of_vdi(vdi)
        with st.lock:
            old = st.by_uuid['pool_update'].get(info['uuid'])
            if old is not None:
                cur = st.get('pool_update', old, 'vdi')
                if cur not in st.tables['VDI']:
                    st.modify('pool_update', old, {'vdi': vdi})
                    return old
                if cur != vdi:
                    raise ApiError('UPDATE_ALREADY_EXISTS', info['uuid'])
                return old
            upd = st.create('pool_update', {
                'uuid': info['uuid'], 'name_label': info['name_label'], 'name_description': info['name_description'],
                'version': info['version'], 'installation_size': info['installation_size'], 'key': info['key'],
                'after_apply_guidance': info['after_apply_guidance'], 'vdi': vdi, 'hosts': [], 'other_config': {},
                'enforce_homogeneity': info['enforce_homogeneity']}, rng=self.rt_rng)
            st.create('pool_patch', {
                'uuid': patch_uuid_of_update_uuid(info['uuid']), 'name_label': info['name_label'],
                'name_description': info['name_description'], 'version': info['version'],
                'size': info['installation_size'], 'pool_applied': False,
                'after_apply_guidance': info['after_apply_guidance'], 'pool_update': upd}, rng=self.rt_rng)
            if info.get('precheck_error'):
                self.precheck_errors[upd] = list(info['precheck_error'])
            return upd

    def _patch_of_update(self, upd):
        st = self.store
        for p, row in st.tables['pool_patch'].items():
            if row[CLASSES['pool_patch'].idx['pool_update']] == upd:
                return p
        return None

    def update_precheck(self, s, upd, host):
        """python3/extensions/pool_update.precheck: the update's VDI must still exist, dom0 must
        have room for it (knob dom0_free_mb), its own precheck must pass."""
        st = self.store
        rec = CLASSES['pool_update'].to_dict(st.get_row('pool_update', upd))
        st.get_row('host', host)
        self.assert_host_reachable(host)
        if upd in st.get('host', host, 'updates'):
            raise ApiError('UPDATE_ALREADY_APPLIED', upd)
        if rec['vdi'] not in st.tables['VDI']:
            raise ApiError('CANNOT_FIND_UPDATE')
        free = self.knobs['dom0_free_mb'] << 20
        if rec['installation_size'] > free:
            raise ApiError('UPDATE_PRECHECK_FAILED_OUT_OF_SPACE', rec['name_label'], free, rec['installation_size'])
        err = self.precheck_errors.get(upd)
        if err:
            raise ApiError(err[0], rec['name_label'], *err[1:])
        return 'ok'

    def update_apply(self, s, upd, host):
        """python3/extensions/pool_update.apply, then resync_host: host.updates, update.hosts, the
        mirror patch's host_patch, and host.updates_requiring_reboot when it says restartHost."""
        st = self.store
        with st.lock:
            st.get_row('pool_update', upd)
            if upd in st.get('host', host, 'updates'):
                raise ApiError('UPDATE_ALREADY_APPLIED', upd)
            self.update_precheck(s, upd, host)
            st.add_to_set('host', host, 'updates', upd)
            st.add_to_set('pool_update', upd, 'hosts', host)
            patch = self._patch_of_update(upd)
            if patch is not None and self._host_patch_of(patch, host) is None:
                self._write_host_patch(patch, host)
            if 'restartHost' in st.get('pool_update', upd, 'after_apply_guidance'):
                st.add_to_set('host', host, 'updates_requiring_reboot', upd)

    def update_pool_apply(self, s, upd):
        st = self.store
        with st.lock:
            st.get_row('pool_update', upd)
            todo = [h for h in self.pool['hosts'] if h not in st.get('pool_update', upd, 'hosts')]
            if not todo:
                raise ApiError('UPDATE_ALREADY_APPLIED_IN_POOL', upd)
            failed = []
            for h in todo:
                try:
                    self.update_apply(s, upd, h)
                except ApiError:
                    failed.append(h)
            if failed:
                raise ApiError('UPDATE_POOL_APPLY_FAILED', *failed)

    def update_pool_clean(self, s, upd):
        """Forget the update's ISO: its VDI is destroyed (precheck/apply then fail with
        CANNOT_FIND_UPDATE)."""
        st = self.store
        with st.lock:
            vdi = st.get('pool_update', upd, 'vdi')
            if vdi in st.tables['VDI']:
                self.vdi_destroy(s, vdi)
            st.modify('pool_update', upd, {'vdi': NULL_REF})

    def update_destroy(self, s, upd):
        st = self.store
        with st.lock:
            if st.get('pool_update', upd, 'hosts'):
                raise ApiError('UPDATE_IS_APPLIED')
            patch = self._patch_of_update(upd)
            st.delete('pool_update', upd)
            if patch is not None:
                st.delete('pool_patch', patch)
            for h in self.pool['hosts']:
                st.remove_from_set('host', h, 'updates_requiring_reboot', upd)
            self.precheck_errors.pop(upd, None)

    # ------------------------------------------------------------ host.call_plugin
    def call_plugin(self, s, host, plugin, fn, args):
        st = self.store
        st.get_row('host', host)
        self.assert_host_reachable(host)
        if plugin != 'updater.py' or not self._xcp_ng():
            raise ApiError('XENAPI_MISSING_PLUGIN', plugin)
        args = args if isinstance(args, dict) else {}
        if fn == 'check_update':
            with self._updater_lock(host, 'check_update', 0):
                return json.dumps(self.updater[host]['pending'])
        if fn in ('update', 'install'):
            if fn == 'install' and not args.get('packages'):
                raise _plugin_error('Missing or empty argument `packages`')
            with self._updater_lock(host, fn, 10.0):
                return self._yum(s, host, fn, args)
        if fn == 'query_installed':
            return self._query_installed(host, args.get('packages', ''))
        if fn == 'get_proxies':
            return json.dumps({r: '_none_' for r in UPDATER_REPOS})
        if fn == 'set_proxies':
            return ''
        raise ApiError('UNKNOWN_XENAPI_PLUGIN_FUNCTION', fn)

    def _updater_lock(self, host, op, timeout):
        """The plugin's OperationLocker: a second operation gets '-1' 'The updater plugin is busy
        (current operation: X)' at once (timeout 0) or after `timeout` seconds, and a second
        update 'Update already in progress' at once."""
        u = self.updater[host]

        class Lock:
            def __enter__(self):
                end = time.monotonic() + timeout
                with u['cond']:
                    while u['op'] is not None and (u['until'] == 0 or time.monotonic() < u['until']):
                        if op == 'update' and u['op'] == 'update':
                            raise _plugin_error('Update already in progress')
                        rem = end - time.monotonic()
                        if rem <= 0:
                            raise _plugin_error('The updater plugin is busy (current operation: %s)' % u['op'])
                        u['cond'].wait(min(rem, 0.1))
                    u['op'], u['until'] = op, 0
                return self

            def __exit__(self, *exc):
                with u['cond']:
                    u['op'] = None
                    u['cond'].notify_all()
                return False
        return Lock()

    def updater_busy(self, host, op, seconds):
        """/sim/fault?kind=updater_busy: hold the plugin's lock as operation `op` for `seconds`
        (0: until updater_free)."""
        u = self.updater[host]
        with u['cond']:
            u['op'] = op
            u['until'] = time.monotonic() + seconds if seconds > 0 else 0
            u['cond'].notify_all()

    def updater_free(self, host):
        u = self.updater[host]
        with u['cond']:
            u['op'] = None
            u['cond'].notify_all()

    def _yum(self, s, host, action, args):
        """install_helper: a task 'Update host …' (created, set to success, destroyed), yum run for
        `updater_seconds`, the packages leave the pending list; returns json of run_command."""
        st = self.store
        name, uuid = st.get('host', host, 'name_label'), st.get('host', host, 'uuid')
        packages = args.get('packages', '')
        label = ('Update host %s (%s)' % (name, uuid) if not packages else
                 '%s %s on host %s (%s)' % (action.capitalize(), packages, name, uuid))
        task = self.task_create(s, label, '')
        repos = list(UPDATER_REPOS) + [r.strip() for r in args.get('repos', '').split(',') if r.strip()]
        command = ['yum', action, '--disablerepo=*', '--enablerepo=' + ','.join(repos), '-y']
        if packages:
            command.append(packages)
        time.sleep(self.knobs['updater_seconds'])
        u = self.updater[host]
        wanted = set(packages.replace(',', ' ').split()) if packages else None
        with st.lock:
            done = [p for p in u['pending'] if wanted is None or p['name'] in wanted]
            u['pending'] = [p for p in u['pending'] if p not in done]
            for p in done:
                u['installed'][p['name']] = '%s-%s-%s.x86_64' % (p['name'], p['version'], p['release'])
            if action == 'install':
                for n in wanted - set(u['installed']):
                    u['installed'][n] = '%s-1.0-1.xcpng8.2.x86_64' % n
            if done:
                st.map_put('host', host, 'other_config', 'sim_last_update',
                           ','.join('%s-%s-%s' % (p['name'], p['version'], p['release']) for p in done))
            st.modify('task', task, {'status': 'success'})
            st.delete('task', task)
        out = ''.join('Updated: %s.x86_64 %s-%s\n' % (p['name'], p['version'], p['release']) for p in done)
        return json.dumps({'stdout': out or 'No packages marked for update\n', 'stderr': '', 'command': command,
                           'returncode': 0})

    def _query_installed(self, host, packages):
        names = [p for p in packages.replace(',', ' ').split() if p]
        if not names:
            return '{}'
        inst = self.updater[host]['installed']
        return json.dumps({n: inst.get(n, '') for n in dict.fromkeys(names)})


def _plugin_error(message):
    """XenAPIPlugin.Failure('-1', [message, details, backtrace]) as error_wrapped raises it;
    XAPI passes a plugin's failure through as the API error [code, params…]."""
    return ApiError('-1', message, '', 'Traceback (most recent call last):\n  (simulated)\n')
