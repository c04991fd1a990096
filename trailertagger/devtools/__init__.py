"""Developer tooling (test media synthesis, benchmarks helpers); never imported by the app."""
