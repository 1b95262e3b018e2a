"""The gateway's core: money, prices, keys, policies, errors and call events — no I/O."""
