"""Pure logic with no I/O: states, kinds, codec, unique keys, validation."""
