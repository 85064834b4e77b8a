"""A user's own pair, registered from outside pairbench through the ``pairbench.pairs`` entry point."""
