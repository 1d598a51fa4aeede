"""Sendblue (and our simulator, which speaks the same wire): the adapter (`adapter`), its
HTTP client and retry policy (`transport`), the request bodies (`bodies`) and the reading
of answers and webhooks (`parsing`)."""
