"""The ``memoire`` command: run, administer and try the service without writing Python."""
