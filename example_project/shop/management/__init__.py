"""Management commands of the shop: `seed` and `demo_login`."""
