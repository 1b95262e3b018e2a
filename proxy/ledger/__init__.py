"""The ledger: admission before the upstream call, metering during it, settlement after it."""
