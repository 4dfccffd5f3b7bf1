"""`ghl-sync run`: every service of a deployment under one supervisor (`services.run.cli`;
the supervisor itself is `services.platform.supervise`, which the demo shares)."""
