"""The ``awa`` command line."""
