"""HTTP plumbing shared by every route: middlewares and response helpers."""
