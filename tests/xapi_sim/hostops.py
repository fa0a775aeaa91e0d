"""Host lifecycle, as ocaml/xapi/xapi_host.ml, xapi_host_helpers.ml and vm_evacuation.ml do it:
disable/enable, the evacuation plan and host.evacuate, host.reboot (the host must be
disabled; what still runs is evacuated or shut down, then the host is gone for a while and
comes back enabled with a new boot time), host.restart_agent.

A mixin of api.Sim. Taking a host off the network (refusing its connections) is the
server's job: it registers `server` with host_down(index)/host_up(index)."""
import threading
import time

from simdb import ApiError, now_dt
from wire import NULL_REF

HOST_OPS_ENABLED = ['provision', 'evacuate', 'vm_start', 'vm_resume', 'vm_migrate']
HOST_OPS_DISABLED = HOST_OPS_ENABLED[:2] + ['shutdown', 'reboot'] + HOST_OPS_ENABLED[2:]


class HostOps:
    """host.disable/enable/evacuate/reboot/restart_agent (mixed into api.Sim)."""

    def _init_hosts(self):
        self.server = None                # set by the server: host_down(i), host_up(i)
        self.down = set()                 # indices of hosts whose agent is not answering
        self.rebooting = set()            # host refs between host.reboot and their return

    def _register_hosts(self, m, void):
        m['host.disable'] = (self.host_disable, (2, 3), void)
        m['host.enable'] = (self.host_enable, (2, 2), void)
        m['host.evacuate'] = (self.host_evacuate, (2, 4), void)
        m['host.assert_can_evacuate'] = (self.host_assert_can_evacuate, (2, 2), void)
        m['host.get_vms_which_prevent_evacuation'] = (self.host_vms_preventing_evacuation, (2, 2),
                                                      ('map', ('ref', 'VM'), ('set', ('string',))))
        m['host.reboot'] = (self.host_reboot, (2, 2), void)
        m['host.restart_agent'] = (self.host_restart_agent, (2, 2), void)

    def _index(self, host):
        return self.pool['hosts'].index(host)

    def assert_host_reachable(self, host):
        """A call forwarded to a host whose agent does not answer: HOST_OFFLINE [host]."""
        if self._index(host) in self.down:
            raise ApiError('HOST_OFFLINE', host)

    # ------------------------------------------------------------ enable / disable
    def host_disable(self, s, host, auto_enable=True):
        st = self.store
        with st.lock:
            st.get_row('host', host)
            self.assert_host_reachable(host)
            if st.get('host', host, 'enabled'):
                st.modify('host', host, {'enabled': False, 'allowed_operations': list(HOST_OPS_DISABLED)})

    def host_enable(self, s, host):
        st = self.store
        with st.lock:
            st.get_row('host', host)
            self.assert_host_reachable(host)
            if host in self.rebooting:
                raise ApiError('HOST_DISABLED_UNTIL_REBOOT', host)
            if not st.get('host', host, 'enabled'):
                st.modify('host', host, {'enabled': True, 'allowed_operations': list(HOST_OPS_ENABLED)})

    # ------------------------------------------------------------ evacuation
    def evacuation_plan(self, host):
        """{vm: target host or ApiError} for every guest resident on `host`
        (xapi_host.ml compute_evacuation_plan_no_wlb)."""
        st = self.store
        targets = [h for h in self.pool['hosts'] if h != host and st.get('host', h, 'enabled')
                   and self.host_live(h)]
        vms = [vm for vm in st.get('host', host, 'resident_VMs')
               if vm in st.tables['VM'] and not st.get('VM', vm, 'is_control_domain')]
        plans = {}
        if not targets:
            return {vm: ApiError('NO_HOSTS_AVAILABLE', vm) for vm in vms}
        movable = []
        for vm in vms:
            err = next((e for e in (self._run_error(vm, t, memory=False) for t in targets) if e), None)
            if err is not None:
                plans[vm] = err
            else:
                movable.append(vm)
            ps = st.get('VM', vm, 'power_state')
            if ps != 'Running':                           # the pool_migrate operation check wins
                plans[vm] = ApiError('VM_BAD_POWER_STATE', vm, 'running', ps.lower())
        free = {t: self.host_memory_free(t) for t in targets}
        for vm in sorted(movable, key=self.vm_memory_required, reverse=True):
            need = self.vm_memory_required(vm)
            best = max(targets, key=lambda t: free[t])
            if free[best] < need:
                plans.setdefault(vm, ApiError('HOST_NOT_ENOUGH_FREE_MEMORY', vm))
                continue
            free[best] -= need
            plans.setdefault(vm, best)
        return plans

    def host_vms_preventing_evacuation(self, s, host):
        with self.store.lock:
            self.store.get_row('host', host)
            return {vm: [p.code] + p.params for vm, p in self.evacuation_plan(host).items()
                    if isinstance(p, ApiError)}

    def host_assert_can_evacuate(self, s, host):
        with self.store.lock:
            self.store.get_row('host', host)
            errors = [','.join([p.code] + p.params) for p in self.evacuation_plan(host).values()
                      if isinstance(p, ApiError)]
        if errors:
            raise ApiError('CANNOT_EVACUATE_HOST', '|'.join(errors))

    def host_evacuate(self, s, host, network=NULL_REF, batch_size=0):
        """Every guest moves (VM.pool_migrate) to an enabled live host, or nothing moves and the
        first error of the plan is raised."""
        st = self.store
        with st.lock:
            st.get_row('host', host)
            plans = self.evacuation_plan(host)
            for vm, p in plans.items():
                if isinstance(p, ApiError):
                    raise p
            for vm, target in plans.items():
                self.migrate(vm, target)

    # ------------------------------------------------------------ reboot, agent restart
    def host_reboot(self, s, host):
        """Allowed only when the host is disabled (HOST_NOT_DISABLED). The call returns at once;
        after host_shutdown_delay_s the host evacuates what it can, shuts the rest down, goes
        away for host_down_s, and comes back enabled with a new boot time."""
        st = self.store
        with st.lock:
            st.get_row('host', host)
            self.assert_host_reachable(host)
            if st.get('host', host, 'enabled'):
                raise ApiError('HOST_NOT_DISABLED')
            if host in self.rebooting:
                raise ApiError('OTHER_OPERATION_IN_PROGRESS', 'host', host, 'shutdown')
            self.rebooting.add(host)
            task = self.task_create(s, 'Host is rebooting', 'Host is rebooting')
            st.map_put('host', host, 'current_operations', task, 'shutdown')
        threading.Thread(target=self._host_reboot_run, args=(host, task), daemon=True).start()

    def _host_reboot_run(self, host, task):
        time.sleep(self.knobs['host_shutdown_delay_s'])
        st = self.store
        with st.lock:
            self._ensure_no_vms(host)
        self._go_offline(host)
        time.sleep(self.knobs['host_down_s'])
        now = time.time()
        with st.lock:
            st.modify('host', host, {'enabled': True, 'allowed_operations': list(HOST_OPS_ENABLED),
                                     'current_operations': {}, 'updates_requiring_reboot': []})
            oc = dict(st.get('host', host, 'other_config'))
            oc['boot_time'] = '%d.' % now
            oc['agent_start_time'] = '%d.' % now
            st.modify('host', host, {'other_config': oc})
            if task in st.tables['task']:
                st.delete('task', task)
            self.rebooting.discard(host)
        self._go_online(host)

    def _ensure_no_vms(self, host):
        """vm_evacuation.ml ensure_no_vms: evacuate what can move, shut down what cannot."""
        st = self.store
        for vm, target in self.evacuation_plan(host).items():
            if isinstance(target, ApiError):
                self._go_down(vm, 'Halted')
            else:
                self.migrate(vm, target)
        for vm in list(st.get('host', host, 'resident_VMs')):
            if vm in st.tables['VM'] and not st.get('VM', vm, 'is_control_domain'):
                self._go_down(vm, 'Halted')

    def host_restart_agent(self, s, host):
        """Returns at once; a second later the host's xapi restarts: its connections drop, it
        refuses new ones for agent_restart_s, then agent_start_time is new. Sessions and tasks
        are not persisted by XAPI: a master restart loses them all."""
        st = self.store
        st.get_row('host', host)
        self.assert_host_reachable(host)

        def run():
            time.sleep(1.0)
            self._go_offline(host, agent_only=True)
            time.sleep(self.knobs['agent_restart_s'])
            with st.lock:
                st.map_put('host', host, 'other_config', 'agent_start_time', '%d.' % time.time())
            self._go_online(host)
        threading.Thread(target=run, daemon=True).start()

    def _go_offline(self, host, agent_only=False):
        st = self.store
        idx = self._index(host)
        with st.lock:
            self.down.add(idx)
            if not agent_only:
                m = st.get('host', host, 'metrics')
                if m in st.tables['host_metrics']:
                    st.modify('host_metrics', m, {'live': False, 'last_updated': now_dt()})
            if idx == self.master:
                self.invalidate_sessions()
                for t in list(st.tables['task']):
                    st.delete('task', t)
        if self.server is not None:
            self.server.host_down(idx)

    def _go_online(self, host):
        st = self.store
        idx = self._index(host)
        if self.server is not None:
            self.server.host_up(idx)
        with st.lock:
            self.down.discard(idx)
            m = st.get('host', host, 'metrics')
            if m in st.tables['host_metrics']:
                st.modify('host_metrics', m, {'live': True, 'last_updated': now_dt()})
