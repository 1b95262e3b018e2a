"""Provider adapters (one module per provider) behind the interface in base.py."""
