"""The ``ragwright`` command line. Commands are thin: they parse, call the packages, print."""
