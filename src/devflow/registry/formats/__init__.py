"""One module per package format; each serves its clients' own protocol."""
