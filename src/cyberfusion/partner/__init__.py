"""Partners of the platform: data-sharing agreements with CERTs and other partners."""
