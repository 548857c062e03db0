"""What the tests and the benchmarks both use: the real server as a subprocess, a throwaway PostgreSQL,
and where the shared real-photo data lives. Not part of the installed packages."""
