"""Services the elected leader runs: promotion, rescue, cleanup, priority aging."""
