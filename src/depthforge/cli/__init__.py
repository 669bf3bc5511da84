"""The ``depthforge`` command line (thin: every command only calls the library)."""
