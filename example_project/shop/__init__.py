"""The example project's shop: a small coffee roaster's customers, catalogue and orders."""
