"""Examples of downstream consumers of ghl-sync's events."""
