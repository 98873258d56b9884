"""Support code the tests (and benchmarks) share: not part of the product packages."""
