"""The gateway's core, which knows no feature: the station's connection (framing, validation,
limits, TLS, spans, the frame log), the routing table, the connection registry, the group
committer and the station store, the command router, and the internal API's station registry
and generic commands."""
