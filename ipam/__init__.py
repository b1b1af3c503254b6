"""host-local IPAM: pure allocation (ranges in, address out) and the file store."""
