"""Universal package registry: repositories, a content-addressed blob store, one module a format."""
