"""Routing writes, one module per concern: the router (`router`, `router_replies`),
assignments and pool choice (`assignments`, `pool`, `line_roles`) and contact rules
(`contact_rules`). Callers import the module they need."""
