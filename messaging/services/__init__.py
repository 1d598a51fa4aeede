"""Messaging writes, one module per concern (import from the module, not from here):

- `sending`: who sends into which conversation (`send_target_resolve`), the send checks in
  contract order, the rolling 24-hour cap, the outbound row stored `queued` and its job
  enqueued after commit (`message_send`, `rate_status`).
- `delivery`: the outbound job and its retries, and the sweep for lost jobs
  (`message_deliver`, `message_send_sweep`).
- `send_recovery`: sends whose outcome was lost, settled from the provider's record.
- `status`: provider status callbacks, forward only (`message_status_update`).
- `inbound`: inbound storage (`inbound_message_receive`, `message_route`).
- `conversations`: the conversation per (identity, person), created once and pointed at
  the line and connection in use (`conversation_get_or_create`, `connection_attach`,
  `conversation_attach`).
- `reactions`: tapbacks sent, taken back and received.
- `receipts`: read receipts and typing we send (`conversation_mark_read`, `typing_send`).
- `conversation_counts`: the conversations' message counters recounted (a repair; triggers
  keep them exact: `conversation_counts_refresh`).
- `common`: what they share (provider adapter, credentials, enqueue, event emit).

Message text never goes to logs: log ids only.
"""
