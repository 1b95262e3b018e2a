"""The client API (the hot path): authenticate, validate, admit, call the provider, settle."""
