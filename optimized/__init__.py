"""Fast implementations: same module names and public signatures as reference/."""
