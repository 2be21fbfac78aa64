"""The core ring: settings, database, auth primitives, jobs and events. Imports no domain."""
