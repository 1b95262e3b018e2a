"""The routes outside the admin API: the client API, health, the admin UI, webhooks."""
