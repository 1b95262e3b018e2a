"""Process-wide machinery below the routes: the caches and their invalidation, logging,
metrics, background tasks, the Stripe client."""
