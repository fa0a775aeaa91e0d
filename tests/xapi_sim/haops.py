"""High availability, as much of ocaml/xapi/xapi_ha.ml as a client sees: pool.enable_ha
(heartbeat SRs, or XAPI's pick of a shared SR when none is given; a statefile VDI on it)
and pool.disable_ha (the statefiles destroyed), pool.ha_enabled, ha_statefiles,
ha_configuration and the pool's allowed operations following. No daemon, no fencing, no
restart plan: clients only need to see that HA is on (xo-server refuses patching then).

A mixin of api.Sim."""
from simdb import ApiError
from wire import NULL_REF

STATEFILE_SIZE = 4 << 20


class HaOps:
    """pool.enable_ha / pool.disable_ha (mixed into api.Sim)."""

    def _register_ha(self, m, void):
        m['pool.enable_ha'] = (self.pool_enable_ha, (3, 3), void)
        m['pool.disable_ha'] = (self.pool_disable_ha, (1, 1), void)

    def _pool_ref(self):
        return next(iter(self.store.tables['pool']))

    def _statefile_sr(self, srs):
        """The heartbeat SR: the first given, which must be shared; none given: a shared,
        non-ISO SR, the default one first (XAPI picks among its statefile candidates)."""
        st = self.store
        if srs:
            for sr in srs:
                st.get_row('SR', sr)
            if not st.get('SR', srs[0], 'shared'):
                raise ApiError('CANNOT_CREATE_STATE_FILE')
            return srs[0]
        default = st.get('pool', self._pool_ref(), 'default_SR')
        cands = [sr for sr in st.tables['SR'] if st.get('SR', sr, 'shared')
                 and st.get('SR', sr, 'content_type') != 'iso']
        if not cands:
            raise ApiError('CANNOT_CREATE_STATE_FILE')
        return default if default in cands else cands[0]

    def pool_enable_ha(self, s, heartbeat_srs, configuration):
        st = self.store
        pool = self._pool_ref()
        if not isinstance(heartbeat_srs, list) or not isinstance(configuration, dict):
            raise ApiError('FIELD_TYPE_ERROR', 'heartbeat_srs')
        with st.lock:
            if st.get('pool', pool, 'ha_enabled'):
                raise ApiError('HA_IS_ENABLED')
            sr = self._statefile_sr(heartbeat_srs)
        vdi = self.vdi_create(s, {'name_label': 'Statefile for HA',
                                  'name_description': 'Used for storage heartbeating',
                                  'SR': sr, 'virtual_size': str(STATEFILE_SIZE),
                                  'type': 'ha_statefile', 'sharable': True, 'read_only': False,
                                  'other_config': {}, 'xenstore_data': {}, 'sm_config': {},
                                  'tags': []})
        with st.lock:
            st.modify('pool', pool, {'ha_enabled': True, 'ha_statefiles': [vdi],
                                     'ha_configuration': dict(configuration),
                                     'ha_host_failures_to_tolerate': 1,
                                     'allowed_operations': ['ha_disable']})

    def pool_disable_ha(self, s):
        st = self.store
        pool = self._pool_ref()
        with st.lock:
            if not st.get('pool', pool, 'ha_enabled'):
                raise ApiError('HA_NOT_ENABLED')
            statefiles = list(st.get('pool', pool, 'ha_statefiles'))
            st.modify('pool', pool, {'ha_enabled': False, 'ha_statefiles': [],
                                     'ha_configuration': {}, 'ha_host_failures_to_tolerate': 0,
                                     'allowed_operations': ['ha_enable']})
        for vdi in statefiles:
            if vdi != NULL_REF and vdi in st.tables['VDI']:
                self.vdi_destroy(s, vdi)
