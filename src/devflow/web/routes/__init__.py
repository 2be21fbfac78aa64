"""Routes for core capabilities (health, jobs, events, dashboard); domains bring their own."""
