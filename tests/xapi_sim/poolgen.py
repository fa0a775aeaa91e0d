"""Deterministic generation of a pool (same seed -> same pool) and of the object groups
(VM with its metrics, disks, VBDs, VIF, console) used at start-up and at run time."""
import time

from hostops import HOST_OPS_ENABLED
from patching import uses_update_system
from simdb import CLASSES
from wire import DT, NULL_REF, EPOCH

GiB = 1 << 30
MiB = 1 << 20

ALLOWED_OPS = {
    'Halted': ['start', 'start_on', 'clone', 'copy', 'snapshot', 'export', 'destroy', 'make_into_template',
               'changing_static_range', 'changing_dynamic_range', 'changing_VCPUs', 'metadata_export',
               'provision', 'migrate_send'],
    'Running': ['clean_shutdown', 'hard_shutdown', 'clean_reboot', 'hard_reboot', 'suspend', 'pause',
                'snapshot', 'checkpoint', 'pool_migrate', 'migrate_send', 'changing_dynamic_range',
                'changing_VCPUs_live', 'metadata_export', 'call_plugin'],
    'Suspended': ['resume', 'resume_on', 'hard_shutdown', 'snapshot', 'export', 'metadata_export', 'migrate_send'],
    'Paused': ['unpause', 'hard_shutdown', 'hard_reboot', 'snapshot', 'metadata_export'],
    'template': ['clone', 'copy', 'export', 'destroy', 'provision', 'metadata_export', 'changing_static_range',
                 'changing_dynamic_range', 'changing_VCPUs'],
}

PLATFORM = {'timeoffset': '0', 'device-model': 'qemu-upstream-compat', 'viridian': 'false', 'acpi': '1',
            'apic': 'true', 'pae': 'true', 'nx': 'true', 'vga': 'std', 'videoram': '8', 'secureboot': 'false',
            'cores-per-socket': '2'}
BIOS_STRINGS = {'bios-vendor': 'Xen', 'bios-version': '', 'system-manufacturer': 'Xen', 'system-product-name': 'HVM domU',
                'system-version': '', 'system-serial-number': '', 'baseboard-manufacturer': '', 'hp-rombios': '',
                'oem-1': 'Xen', 'oem-2': 'MS_VM_CERT/SHA1/bdbeb6e0a816d43fa6d3fe8aaef04c2bad9d3e3d'}
OS_VERSION = {'name': 'Debian GNU/Linux 12 (bookworm)', 'distro': 'debian', 'major': '12', 'minor': '5',
              'uname': '6.1.0-18-amd64'}
PV_VERSION = {'major': '8', 'minor': '4', 'micro': '0', 'build': '1'}
GM_OTHER = {'feature-balloon': '1', 'has-vendor-device': '0', 'platform-feature-multiprocessor-suspend': '1'}
HVM_PARAMS = {'order': 'cdn'}
VDI_OPS = ['clone', 'destroy', 'resize', 'update', 'copy', 'snapshot', 'forget', 'generate_config', 'set_on_boot']
VBD_OPS = ['attach', 'unpause', 'pause']
VIF_OPS = ['attach', 'unplug']
SR_OPS = ['scan', 'vdi_create', 'vdi_introduce', 'vdi_destroy', 'vdi_resize', 'vdi_clone', 'vdi_snapshot',
          'vdi_mirror', 'vdi_enable_cbt', 'vdi_disable_cbt', 'vdi_data_destroy', 'vdi_list_changed_blocks',
          'vdi_set_on_boot', 'pbd_create', 'pbd_destroy', 'plug', 'unplug', 'update', 'destroy', 'forget']
SOFTWARE_VERSION = {'product_version': '8.2.1', 'product_version_text': '8.2', 'product_version_text_short': '8.2',
                    'platform_name': 'XCP', 'platform_version': '3.2.1', 'product_brand': 'XCP-ng',
                    'build_number': 'release/yangtze/master/58', 'date': '2023-11-10', 'dbv': '0.0.1',
                    'xapi': '1.20', 'xen': '4.13.5-9.38', 'linux': '4.19.0+1', 'xencenter_min': '2.16',
                    'xencenter_max': '2.16', 'network_backend': 'openvswitch', 'db_schema': '5.602'}
# --family: what software_version says (product_brand, versions) for each product
FAMILIES = {
    'xcp-ng': {'product_brand': 'XCP-ng', 'platform_name': 'XCP', 'edition': 'xcp-ng',
               'versions': {'8.2.1': ('3.2.1', 'release/yangtze/master/58', '8.2'),
                            '8.3.0': ('3.4.0', 'release/ely/master/ebe4', '8.3')}},
    'xenserver': {'product_brand': 'XenServer', 'platform_name': 'XCP', 'edition': 'free',
                  'versions': {'6.5.0': ('1.9.0', '90233c', '6.5'), '7.0.0': ('2.1.0', '125380c', '7.0'),
                               '7.1.0': ('2.2.0', '137272c', '7.1'), '8.2.1': ('3.2.1', 'stream-8.2', '8.2')}},
}


def software_version(family='xcp-ng', product_version=None, platform_version=None):
    """host.software_version for a product: XCP-ng 8.2.1 by default."""
    fam = FAMILIES[family]
    pv = product_version or ('8.2.1')
    plat, build, text = fam['versions'].get(pv, (platform_version or '3.2.1', 'sim', '.'.join(pv.split('.')[:2])))
    sv = dict(SOFTWARE_VERSION, product_brand=fam['product_brand'], platform_name=fam['platform_name'],
              product_version=pv, product_version_text=text, product_version_text_short=text,
              platform_version=platform_version or plat, build_number=build)
    return sv


CPU_INFO = {'cpu_count': '16', 'socket_count': '2', 'vendor': 'GenuineIntel', 'speed': '2399.998',
            'modelname': 'Intel(R) Xeon(R) CPU E5-2630 v3 @ 2.40GHz', 'family': '6', 'model': '63',
            'stepping': '2', 'flags': 'fpu de tsc msr pae mce cx8 apic sep mca cmov pat clflush acpi mmx fxsr sse sse2',
            'features': '77fefbff-bfebfbff-00000021-2c100800'}
OS_NAMES = ['Debian Bookworm 12', 'Ubuntu Jammy Jellyfish 22.04', 'Windows Server 2022 (64-bit)',
            'Rocky Linux 9', 'Alpine Linux 3.19']


def dt(t):
    return DT(time.strftime('%Y%m%dT%H:%M:%SZ', time.gmtime(t)))


def row_of(cls, values):
    ci = CLASSES[cls]
    row = ci.tmpl.copy()
    idx = ci.idx
    for k, v in values.items():
        row[idx[k]] = v
    return row


class Builder:
    """Builds object groups. `emit(cls, ref, values)` receives each new object."""

    def __init__(self, store, rng, base_time):
        self.s = store
        self.rng = rng
        self.base = base_time

    def uuid(self):
        return self.s.new_uuid(self.rng)

    def ref(self):
        return self.s.new_ref(self.rng)

    def mac(self):
        r = self.rng.getrandbits(40)
        return '%02x:%02x:%02x:%02x:%02x:%02x' % (0x02 | ((r >> 32) & 0xfc), (r >> 24) & 255, (r >> 16) & 255,
                                                   (r >> 8) & 255, r & 255, self.rng.getrandbits(8))

    def vm_group(self, name, power, host, sr, network, disk_size=None, phys=None, host_address='127.0.0.1',
                 is_template=False, n_disks=1):
        """Returns (vm_ref, [(cls, ref, values)...]) for a VM with metrics, guest metrics, disks, VBDs, VIF and
        (if running/paused) a console."""
        rng = self.rng
        objs = []
        vm = self.ref()
        vm_uuid = self.uuid()
        m_ref = self.ref()
        live = power in ('Running', 'Paused')
        mem = (1 << rng.randint(0, 3)) * GiB
        start = self.base - rng.randint(3600, 90 * 86400)
        objs.append(('VM_metrics', m_ref, {
            'uuid': self.uuid(), 'memory_actual': mem if live else 0, 'VCPUs_number': 2 if live else 0,
            'VCPUs_utilisation': {}, 'state': [], 'start_time': dt(start) if live else EPOCH,
            'install_time': dt(start - 86400), 'last_updated': EPOCH, 'hvm': True}))
        gm_ref = NULL_REF
        if not is_template:
            gm_ref = self.ref()
            objs.append(('VM_guest_metrics', gm_ref, {
                'uuid': self.uuid(), 'os_version': OS_VERSION, 'PV_drivers_version': PV_VERSION,
                'PV_drivers_up_to_date': True, 'networks': {'0/ip': '10.%d.%d.%d' % (rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))},
                'other': GM_OTHER, 'last_updated': dt(start), 'live': live, 'can_use_hotplug_vbd': 'yes',
                'can_use_hotplug_vif': 'yes', 'PV_drivers_detected': True}))
        vbds = []
        for d in range(n_disks if not is_template else 0):
            vdi, vbd = self.ref(), self.ref()
            size = disk_size if disk_size is not None else (10 + 10 * rng.randint(0, 9)) * GiB
            pu = phys if phys is not None else rng.randint(1, 4) * MiB
            objs.append(('VDI', vdi, {
                'uuid': self.uuid(), 'name_label': '%s %d' % (name, d), 'name_description': 'Created by XO',
                'allowed_operations': VDI_OPS, 'SR': sr, 'VBDs': [vbd], 'virtual_size': size,
                'physical_utilisation': pu, 'type': 'user', 'location': '', 'managed': True,
                'on_boot': 'persist', 'sm_config': {}, 'other_config': {}}))
            objs.append(('VBD', vbd, {
                'uuid': self.uuid(), 'allowed_operations': VBD_OPS, 'VM': vm, 'VDI': vdi,
                'device': ('xvd' + 'abc'[d % 3]) if live else '', 'userdevice': str(d), 'bootable': d == 0,
                'mode': 'RW', 'type': 'Disk', 'unpluggable': True, 'currently_attached': live,
                'other_config': {'owner': ''}}))
            vbds.append(vbd)
        vifs = []
        if not is_template:
            cd = self.ref()
            objs.append(('VBD', cd, {
                'uuid': self.uuid(), 'allowed_operations': VBD_OPS, 'VM': vm, 'VDI': NULL_REF,
                'device': 'xvdd' if live else '', 'userdevice': '3', 'mode': 'RO', 'type': 'CD', 'empty': True,
                'unpluggable': True, 'currently_attached': live}))
            vbds.append(cd)
            vif = self.ref()
            objs.append(('VIF', vif, {
                'uuid': self.uuid(), 'allowed_operations': VIF_OPS, 'device': '0', 'network': network, 'VM': vm,
                'MAC': self.mac(), 'MTU': 1500, 'currently_attached': live, 'MAC_autogenerated': True,
                'locking_mode': 'network_default', 'ipv4_configuration_mode': 'None',
                'ipv6_configuration_mode': 'None'}))
            vifs.append(vif)
        consoles = []
        if live:
            con = self.ref()
            con_uuid = self.uuid()
            objs.append(('console', con, {
                'uuid': con_uuid, 'protocol': 'rfb', 'VM': vm,
                'location': 'https://%s/console?uuid=%s' % (host_address, con_uuid),
                'other_config': {'vgaconsole': 'true'}}))
            consoles.append(con)
        ops = ALLOWED_OPS['template' if is_template else power]
        objs.insert(0, ('VM', vm, {
            'uuid': vm_uuid, 'allowed_operations': ops, 'power_state': power, 'name_label': name,
            'name_description': '', 'user_version': 1, 'is_a_template': is_template,
            'is_default_template': is_template, 'resident_on': host if live else NULL_REF,
            'memory_overhead': 11 * MiB, 'memory_target': mem if live else 0, 'memory_static_max': mem,
            'memory_dynamic_max': mem, 'memory_dynamic_min': mem, 'memory_static_min': 512 * MiB,
            'VCPUs_max': 2, 'VCPUs_at_startup': 2, 'actions_after_shutdown': 'destroy',
            'actions_after_reboot': 'restart', 'actions_after_crash': 'restart', 'consoles': consoles,
            'VIFs': vifs, 'VBDs': vbds, 'HVM_boot_policy': 'BIOS order', 'HVM_boot_params': HVM_PARAMS,
            'HVM_shadow_multiplier': 1.0, 'platform': PLATFORM,
            'other_config': {'base_template_name': OS_NAMES[0], 'mac_seed': self.uuid(),
                             'install-methods': 'cdrom,nfs,http,ftp'} if not is_template else
            {'default_template': 'true', 'install-methods': 'cdrom,nfs,http,ftp'},
            'domid': rng.randint(1, 4000) if live else -1, 'domarch': 'x64' if live else '',
            'metrics': m_ref, 'guest_metrics': gm_ref, 'xenstore_data': {}, 'snapshot_time': EPOCH,
            'bios_strings': BIOS_STRINGS, 'hardware_platform_version': 2, 'domain_type': 'hvm',
            'reference_label': 'debian-12', 'snapshot_of': NULL_REF, 'parent': NULL_REF}))
        return vm, objs


def build_pool(store, n_hosts, n_vms, seed, addresses, product=None):
    """Populate `store` with a pool. Returns dict with refs of interest. `product` is the
    software_version of every host (software_version(): XCP-ng 8.2.1 by default)."""
    product = product or software_version()
    update_system = uses_update_system(product)
    rng = store.rng
    base = 1704067200 + (seed % 1000) * 3600     # 2024-01-01 + seed hours: deterministic
    b = Builder(store, rng, base)
    out = {'hosts': [], 'srs': [], 'networks': []}
    pending = {c: [] for c in CLASSES}

    def add(cls, ref, values):
        pending[cls].append((ref, row_of(cls, values)))

    pool = b.ref()
    hosts = [b.ref() for _ in range(n_hosts)]
    hmetrics = [b.ref() for _ in range(n_hosts)]
    dom0s = [b.ref() for _ in range(n_hosts)]
    shared_sr, iso_sr = b.ref(), b.ref()
    local_srs = [b.ref() for _ in range(n_hosts)]
    nets = [b.ref(), b.ref()]
    update = b.ref()
    host_pbds = {h: [] for h in hosts}
    host_pifs = {h: [] for h in hosts}
    sr_pbds = {sr: [] for sr in [shared_sr, iso_sr] + local_srs}
    sr_vdis = {sr: [] for sr in [shared_sr, iso_sr] + local_srs}
    net_pifs = {n: [] for n in nets}
    net_vifs = {n: [] for n in nets}
    resident = {h: [dom0s[i]] for i, h in enumerate(hosts)}
    used = {h: 0 for h in hosts}          # memory of the guests running on each host

    # PBDs and PIFs
    for i, h in enumerate(hosts):
        for sr in (shared_sr, iso_sr, local_srs[i]):
            pbd = b.ref()
            dc = {'server': '10.0.0.10', 'serverpath': '/export/xcp-sr'} if sr == shared_sr else (
                {'location': '/opt/xensource/packages/iso', 'legacy_mode': 'true'} if sr == iso_sr else
                {'device': '/dev/sda3'})
            add('PBD', pbd, {'uuid': b.uuid(), 'host': h, 'SR': sr, 'device_config': dc, 'currently_attached': True})
            host_pbds[h].append(pbd)
            sr_pbds[sr].append(pbd)
        for j, n in enumerate(nets):
            pif = b.ref()
            add('PIF', pif, {'uuid': b.uuid(), 'device': 'eth%d' % j, 'network': n, 'host': h, 'MAC': b.mac(),
                             'MTU': 1500, 'VLAN': -1, 'metrics': NULL_REF, 'physical': True,
                             'currently_attached': True,
                             'ip_configuration_mode': 'Static' if j == 0 else 'None',
                             'IP': addresses[i] if j == 0 else '', 'netmask': '255.0.0.0' if j == 0 else '',
                             'management': j == 0, 'ipv6_configuration_mode': 'None',
                             'primary_address_type': 'IPv4', 'managed': True,
                             'properties': {'gro': 'on'}, 'igmp_snooping_status': 'unknown',
                             'bond_slave_of': NULL_REF, 'VLAN_master_of': NULL_REF})
            host_pifs[h].append(pif)
            net_pifs[n].append(pif)

    # tools ISO VDI
    tools_vdi = b.ref()
    add('VDI', tools_vdi, {'uuid': b.uuid(), 'name_label': 'guest-tools.iso', 'name_description': 'XCP-ng VM Tools',
                           'allowed_operations': ['destroy'], 'SR': iso_sr, 'virtual_size': 40 * MiB,
                           'physical_utilisation': 40 * MiB, 'type': 'user', 'read_only': True,
                           'location': 'guest-tools.iso', 'managed': True, 'is_tools_iso': True,
                           'on_boot': 'persist', 'sharable': True})
    sr_vdis[iso_sr].append(tools_vdi)

    # templates
    templates = []
    for name in OS_NAMES[:3]:
        vm, objs = b.vm_group(name, 'Halted', NULL_REF, shared_sr, nets[0], is_template=True)
        templates.append(vm)
        for cls, ref, vals in objs:
            add(cls, ref, vals)

    # regular VMs
    vms = []
    for k in range(n_vms):
        hi = k % n_hosts
        x = rng.random()
        power = 'Running' if x < 0.6 else 'Halted' if x < 0.9 else 'Suspended' if x < 0.95 else 'Paused'
        sr = shared_sr if k % 3 else local_srs[hi]
        name = 'vm-%05d %s' % (k, OS_NAMES[k % len(OS_NAMES)].split(' ')[0].lower())
        vm, objs = b.vm_group(name, power, hosts[hi], sr, nets[k % 2], host_address=addresses[hi])
        vms.append(vm)
        if power in ('Running', 'Paused'):
            resident[hosts[hi]].append(vm)
            used[hosts[hi]] += objs[0][2]['memory_static_max'] + objs[0][2]['memory_overhead']
        for cls, ref, vals in objs:
            add(cls, ref, vals)
            if cls == 'VDI':
                sr_vdis[sr].append(ref)
            elif cls == 'VIF':
                net_vifs[nets[k % 2]].append(ref)

    # dom0s, hosts, host metrics
    for i, h in enumerate(hosts):
        hm = hmetrics[i]
        hostname = 'xcp-sim-%02d' % i
        add('VM', dom0s[i], {
            'uuid': b.uuid(), 'allowed_operations': [], 'power_state': 'Running',
            'name_label': 'Control domain on host: %s' % hostname, 'name_description': 'The domain which manages physical devices and manages other domains',
            'resident_on': h, 'memory_target': 4 * GiB, 'memory_static_max': 4 * GiB, 'memory_dynamic_max': 4 * GiB,
            'memory_dynamic_min': 4 * GiB, 'memory_static_min': 4 * GiB, 'VCPUs_max': 8, 'VCPUs_at_startup': 8,
            'actions_after_shutdown': 'destroy', 'actions_after_reboot': 'restart', 'actions_after_crash': 'restart',
            'is_control_domain': True, 'domid': 0, 'domarch': 'x64', 'metrics': NULL_REF, 'guest_metrics': NULL_REF,
            'HVM_shadow_multiplier': 1.0, 'snapshot_time': EPOCH, 'domain_type': 'pv', 'user_version': 1})
        # 256 GiB, or twice what runs there when that is more: a generated pool is never overcommitted
        total = max(256 * GiB, -(-2 * (4 * GiB + 600 * MiB + used[h]) // (64 * GiB)) * 64 * GiB)
        add('host_metrics', hm, {'uuid': b.uuid(), 'memory_total': total,
                                 'memory_free': total - 4 * GiB * (len(resident[h])), 'live': True,
                                 'last_updated': dt(base)})
        sv = dict(product)
        sv['hostname'] = hostname
        add('host', h, {
            'uuid': b.uuid(), 'name_label': hostname, 'name_description': 'Default install',
            'memory_overhead': 600 * MiB,
            'allowed_operations': list(HOST_OPS_ENABLED),
            'API_version_major': 2, 'API_version_minor': 21, 'API_version_vendor': 'XenSource', 'enabled': True,
            'software_version': sv, 'other_config': {'iscsi_iqn': 'iqn.2024-01.sim:%08x' % rng.getrandbits(32),
                                                     'agent_start_time': '%d.' % base, 'boot_time': '%d.' % (base - 600)},
            'capabilities': ['xen-3.0-x86_64', 'hvm-3.0-x86_32', 'hvm-3.0-x86_32p', 'hvm-3.0-x86_64'],
            'sched_policy': 'credit', 'supported_bootloaders': ['pygrub', 'eliloader'],
            'resident_VMs': resident[h], 'PIFs': host_pifs[h], 'suspend_image_sr': local_srs[i],
            'crash_dump_sr': local_srs[i], 'patches': [], 'updates': [update] if update_system else [],
            'PBDs': host_pbds[h],
            'cpu_info': CPU_INFO, 'hostname': hostname, 'address': addresses[i], 'metrics': hm,
            'license_params': {'sku_type': 'free'},
            'edition': FAMILIES['xenserver' if product['product_brand'] == 'XenServer' else 'xcp-ng']['edition'],
            'license_server': {'address': 'localhost', 'port': '27000'}, 'bios_strings': {'bios-vendor': 'Sim'},
            'chipset_info': {'iommu': 'true'}, 'display': 'enabled',
            'virtual_hardware_platform_versions': [0, 1, 2], 'control_domain': dom0s[i],
            'local_cache_sr': NULL_REF})

    # SRs
    def sr_values(uuid, name, typ, content, shared, ref, size, tools=False):
        return {'uuid': uuid, 'name_label': name, 'name_description': '', 'allowed_operations': SR_OPS,
                'VDIs': sr_vdis[ref], 'PBDs': sr_pbds[ref], 'virtual_allocation': 0,
                'physical_utilisation': size // 4, 'physical_size': size, 'type': typ, 'content_type': content,
                'shared': shared, 'other_config': {'auto-scan': 'true'} if shared else {}, 'sm_config': {},
                'is_tools_sr': tools, 'introduced_by': NULL_REF}
    add('SR', shared_sr, sr_values(b.uuid(), 'Shared NFS storage', 'nfs', 'user', True, shared_sr, 4 << 40))
    add('SR', iso_sr, sr_values(b.uuid(), 'XCP-ng Tools', 'iso', 'iso', True, iso_sr, 64 * MiB, tools=True))
    for i, sr in enumerate(local_srs):
        add('SR', sr, sr_values(b.uuid(), 'Local storage on xcp-sim-%02d' % i, 'lvm', 'user', False, sr, 1 << 40))
    for j, n in enumerate(nets):
        add('network', n, {'uuid': b.uuid(), 'name_label': 'Pool-wide network associated with eth%d' % j,
                           'name_description': '', 'allowed_operations': [], 'VIFs': net_vifs[n],
                           'PIFs': net_pifs[n], 'MTU': 1500, 'other_config': {'automatic': 'true'},
                           'bridge': 'xenbr%d' % j, 'managed': True, 'default_locking_mode': 'unlocked'})
    update_uuid = b.uuid()
    if update_system:
        add('pool_update', update, {'uuid': update_uuid, 'name_label': 'XS82ECU1001',
                                    'name_description': 'Sim hotfix 1', 'version': '1.0',
                                    'installation_size': 12 * MiB, 'key': '',
                                    'after_apply_guidance': ['restartXAPI'], 'vdi': NULL_REF, 'hosts': list(hosts)})
    add('pool', pool, {'uuid': b.uuid(), 'name_label': 'sim-pool-%d' % seed, 'name_description': 'XAPI simulator pool',
                       'master': hosts[0], 'default_SR': shared_sr, 'suspend_image_SR': shared_sr,
                       'crash_dump_SR': shared_sr, 'other_config': {}, 'ha_statefiles': [],
                       'restrictions': {'restrict_vswitch_controller': 'false', 'restrict_lab': 'false'},
                       'allowed_operations': ['ha_enable'], 'cpu_info': {'cpu_count': str(16 * n_hosts),
                                                                         'socket_count': str(2 * n_hosts),
                                                                         'vendor': 'GenuineIntel'},
                       'redo_log_vdi': NULL_REF, 'metadata_VDIs': [], 'ha_cluster_stack': 'xhad'})
    # insert in a deterministic, dependency-friendly order
    order = ['pool', 'host', 'host_metrics', 'network', 'PIF', 'SR', 'PBD', 'pool_update', 'VM', 'VM_metrics',
             'VM_guest_metrics', 'VDI', 'VBD', 'VIF', 'console']
    with store.lock:
        for cls in order:
            store.bulk_create(cls, pending[cls])
        for cls in CLASSES:
            if cls not in order and pending[cls]:
                store.bulk_create(cls, pending[cls])
    # a few messages
    for i, h in enumerate(hosts):
        huuid = store.get('host', h, 'uuid')
        store.create('message', {'uuid': b.uuid(), 'name': 'HOST_CLOCK_SKEW_DETECTED', 'priority': 3, 'cls': 'Host',
                                 'obj_uuid': huuid, 'timestamp': dt(base - 60 * i),
                                 'body': 'The clocks of host %s and the pool master differ by 0.5 s' % huuid},
                     ref=b.ref(), rng=rng)
    out.update(pool=pool, hosts=hosts, srs=[shared_sr, iso_sr] + local_srs, shared_sr=shared_sr, iso_sr=iso_sr,
               local_srs=local_srs, networks=nets, templates=templates, vms=vms, dom0s=dom0s, base=base)
    return out, b
