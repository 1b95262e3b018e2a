"""Upstreams: provider credentials, pools, failover and health (docs/upstreams.md)."""
