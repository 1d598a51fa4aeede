"""Provisioning writes, one module per concern: `setups` (subaccounts, the default
setup), `lines` (ordering, assigning, blocking, reconciling), `credentials` (secrets and
webhook addresses) and `intake` (recording and dispatching provider events)."""
